"""The phase-1 loop (gdt_core.phase1.training): resident patches give the JPEG path's batches,
the GPU path's settings its losses, and a resumed run continues exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.data.det import list_entries
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.network import build_network
from gdt_core.phase1.objectness import PatchPool
from gdt_core.phase1.patches import build_patch_set
from gdt_core.phase1.resident import DoesNotFit, ResidentPatchPool
from gdt_core.phase1.training import Phase1Training, load_state, speed_settings, training_pool

CFG = load_config().replace(
    {
        "network.input_size": 67,
        "network.fc6_dim": 32,
        "network.fc7_dim": 8,
        "phase1.batch_size": 12,
        "phase1.learning_rate": 0.001,
        "phase1.log_every": 2,
        "phase1.iterations": 6,
    }
)
NORM = (CFG.network.mean, CFG.network.std)


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("phase1")
    det = generate_det(tmp / "det", 8, seed=2)
    build_patch_set(list_entries(det), tmp / "patches", CFG, 60, 2)
    return tmp / "patches"


def test_resident_batches_are_the_jpeg_batches(patch_dir: Path) -> None:
    jpegs = PatchPool(patch_dir, *NORM)
    resident = ResidentPatchPool(jpegs, "cpu", threads=3)
    assert resident.images.dtype == torch.uint8 and resident.images.shape == (60, 67, 67, 3)
    idx = np.array([59, 0, 31, 7, 7])
    (a, la), (b, lb) = jpegs.take(idx), resident.take(idx)
    assert a.std() > 0.1 and torch.equal(a, b) and torch.equal(la, lb)
    assert b.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="patches live on cpu"):
        resident.take(idx, "meta")


def test_resident_patches_that_do_not_fit_are_refused_or_decoded_per_batch(
    patch_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gdt_core.phase1.resident.free_bytes", lambda device: 1000)
    with pytest.raises(DoesNotFit, match=r"60 decoded 67 px patches take 0\.0 GiB"):
        training_pool(CFG.replace({"phase1.resident": "on"}), patch_dir, "cpu")
    said: list[str] = []
    pool = training_pool(
        CFG.replace({"phase1.resident": "auto"}), patch_dir, "cuda", log=said.append
    )
    assert type(pool) is PatchPool and "decoding JPEGs per batch instead" in said[0]


def test_auto_settings_are_the_gpu_path_on_a_gpu_and_plain_on_a_cpu() -> None:
    gpu, cpu = speed_settings(CFG, "cuda"), speed_settings(CFG, "cpu")
    assert (gpu.resident, gpu.bf16, gpu.compile) == ("auto", True, True)
    assert (cpu.resident, cpu.bf16, cpu.compile) == ("off", False, False)
    forced = speed_settings(
        CFG.replace({"phase1.precision": "bf16", "phase1.compile": "on"}), "cpu"
    )
    assert forced.bf16 and forced.compile


def _losses(cfg, patch_dir: Path, steps: int) -> tuple[list[float], Phase1Training]:
    pool = training_pool(cfg, patch_dir, "cpu")
    training = Phase1Training(cfg, build_network(cfg.network, 0), pool, "cpu")
    return [float(training.train_step()) for _ in range(steps)], training


def test_gpu_path_settings_give_the_jpeg_paths_losses(patch_dir: Path) -> None:
    """The GPU path's data and precision on the CPU: resident patches give the very losses of
    JPEG decoding (fp32); bf16 autocast stays within 0.03 of them over 5 steps."""
    jpeg, _ = _losses(CFG.replace({"phase1.resident": "off"}), patch_dir, 5)
    resident, _ = _losses(CFG.replace({"phase1.resident": "on"}), patch_dir, 5)
    bf16, _ = _losses(
        CFG.replace({"phase1.resident": "on", "phase1.precision": "bf16"}), patch_dir, 5
    )
    assert jpeg[0] != jpeg[-1]  # it trained
    np.testing.assert_allclose(resident, jpeg, rtol=1e-6)
    np.testing.assert_allclose(bf16, jpeg, atol=0.03)
    assert bf16 != jpeg  # autocast did run in bf16


@pytest.mark.parametrize("mode", ["all", "conv5"])
def test_a_resumed_run_continues_exactly(patch_dir: Path, tmp_path: Path, mode: str) -> None:
    cfg = CFG.replace({"phase1.train_layers": mode})
    cache = None
    if mode != "all":
        from gdt_core.phase1.feature_cache import cache_dir, cache_shard
        from gdt_core.phase1.patches import read_manifest

        net = build_network(cfg.network, 0)
        cache = cache_dir(patch_dir, net, mode, "float32")
        for entry in read_manifest(patch_dir)["shards"]:
            cache_shard(net, patch_dir, entry, cache, mode, "float32", *NORM)

    def training(state=None) -> Phase1Training:
        pool = training_pool(cfg, patch_dir, "cpu", cache=cache)
        return Phase1Training(cfg, build_network(cfg.network, 0), pool, "cpu", state=state)

    straight = training()
    whole = [float(straight.train_step()) for _ in range(6)]
    first = training()
    part = [float(first.train_step()) for _ in range(3)]
    first.save_state(tmp_path)
    del first  # the worker is gone; only its checkpoint is left
    resumed = training(load_state(tmp_path))
    assert resumed.step == 3
    part += [float(resumed.train_step()) for _ in range(3)]
    assert part == whole
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    other = cfg.replace({"seed": 1})
    pool = training_pool(other, patch_dir, "cpu", cache=cache)
    moved = Phase1Training(other, build_network(cfg.network, 0), pool, "cpu")
    assert [float(moved.train_step()) for _ in range(2)] != whole[:2]  # the seed matters


def test_run_yields_what_is_due_and_metrics_cover_the_window(patch_dir: Path) -> None:
    cfg = CFG.replace(
        {"phase1.eval_every": 4, "phase1.checkpoint_every": 3, "phase1.holdout_fraction": 0.3}
    )
    pool = training_pool(cfg, patch_dir, "cpu", split="train")
    held = training_pool(cfg, patch_dir, "cpu", split="heldout")
    training = Phase1Training(cfg, build_network(cfg.network, 0), pool, "cpu")
    due, windows = [], []
    for d in training.run():
        due.append((d.step, d.evaluate, d.save, d.last))
        windows.append(training.window_metrics())
    assert due == [
        (2, False, False, False),
        (3, False, True, False),
        (4, True, False, False),
        (6, True, True, True),
    ]
    for metrics in windows:
        assert metrics["loss"] > 0 and 0 <= metrics["accuracy"] <= 1
        assert metrics["patches_per_s"] > 0
    evaluation = training.heldout_metrics(held)
    assert set(evaluation) == {"heldout_loss", "heldout_accuracy"}
    assert 0 <= evaluation["heldout_accuracy"] <= 1 and evaluation["heldout_loss"] > 0
