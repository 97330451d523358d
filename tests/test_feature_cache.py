"""phase1.train_layers=conv5|fc: the feature cache's values, its resume, and each mode = all
mode with the same layers frozen."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.data.det import list_entries
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.network import build_network
from gdt_core.phase1.feature_cache import CachedPool, cache_dir, cache_shard
from gdt_core.phase1.objectness import ObjectnessNet, PatchPool, objectness_step
from gdt_core.phase1.patches import build_patch_set, read_manifest

CFG = load_config().replace({"network.input_size": 99, "network.fc6_dim": 32, "network.fc7_dim": 8})
NORM = (CFG.network.mean, CFG.network.std)


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pool5")
    det = generate_det(tmp / "det", 8, seed=4)
    build_patch_set(list_entries(det), tmp / "patches", CFG, 48, 2)
    return tmp / "patches"


def _net(seed: int = 0) -> torch.nn.Module:
    return build_network(CFG.network, seed).eval()


def _cache(net, patch_dir: Path, mode: str, dtype: str) -> tuple[Path, list]:
    out = cache_dir(patch_dir, net, mode, dtype)
    shards = read_manifest(patch_dir)["shards"]
    return out, [cache_shard(net, patch_dir, e, out, mode, dtype, *NORM, batch=5) for e in shards]


@pytest.mark.parametrize("mode", ["conv5", "fc"])
def test_cached_features_are_the_frozen_layers_output(patch_dir: Path, mode: str) -> None:
    net = _net()
    images = PatchPool(patch_dir, *NORM)
    with torch.no_grad():
        x = torch.cat([x for x, _ in images.chunks(16)])
        conv4 = net.features[:10](x)  # conv1..conv4 + ReLU, NCHW: an independent path
        expected = conv4 if mode == "conv5" else torch.flatten(net.pool5(net.conv5(x)), 1)
    # 99 px patches: conv4 is 256 x 5 x 5
    shape = (48, 256, 5, 5) if mode == "conv5" else (48, 9216)
    for dtype, tol in (("float32", 1e-5), ("float16", 2e-3)):
        out, _ = _cache(net, patch_dir, mode, dtype)
        cached = CachedPool(patch_dir, out, split="all")
        got, labels = cached.take(np.arange(len(cached)))
        assert got.shape == shape and expected.abs().max() > 0.1
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol)
        assert torch.equal(labels, torch.from_numpy(images.labels))
        some = np.array([40, 3, 25, 3])  # any order, repeats, across shards
        torch.testing.assert_close(cached.take(some)[0], expected[some], rtol=tol, atol=tol)


def test_cache_resumes_and_follows_the_weights(patch_dir: Path) -> None:
    net = _net()
    out, first = _cache(net, patch_dir, "fc", "float32")
    (out / first[1].file).unlink()  # one shard lost: only it is recomputed
    _, again = _cache(net, patch_dir, "fc", "float32")
    assert [r.reused for r in again] == [True, False]
    other = _net(seed=1)  # other convolutions: another folder, computed afresh
    out2, fresh = _cache(other, patch_dir, "fc", "float32")
    assert out2 != out and [r.reused for r in fresh] == [False, False]
    assert cache_dir(patch_dir, net, "fc", "float16") != out  # the dtype is part of the name
    assert cache_dir(patch_dir, net, "conv5", "float32") != out  # so is the mode


def test_heldout_and_train_split_whole_images(patch_dir: Path) -> None:
    out, _ = _cache(_net(), patch_dir, "fc", "float32")
    train = CachedPool(patch_dir, out, split="train", holdout_fraction=0.4)
    held = CachedPool(patch_dir, out, split="heldout", holdout_fraction=0.4)
    assert len(train) + len(held) == 48 and len(train) > 0 and len(held) > 0
    images_train = PatchPool(patch_dir, *NORM, split="train", holdout_fraction=0.4)
    assert torch.equal(torch.from_numpy(images_train.labels), train.take(np.arange(len(train)))[1])
    halves = [CachedPool(patch_dir, out, r, 2, "train", 0.4) for r in (0, 1)]
    assert sum(len(h) for h in halves) == len(train)


@pytest.mark.parametrize("mode", ["conv5", "fc"])
def test_cached_mode_equals_all_mode_with_the_same_layers_frozen(
    patch_dir: Path, mode: str
) -> None:
    out, _ = _cache(_net(), patch_dir, mode, "float32")
    losses, weights = {}, {}
    for name, pool in (("all", PatchPool(patch_dir, *NORM)), (mode, CachedPool(patch_dir, out))):
        model = ObjectnessNet(copy.deepcopy(_net()), seed=3, train_layers=mode).train()
        model.train_layers = name  # the same layers frozen, fed whole patches in "all"
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
        rng, run = np.random.default_rng(7), []
        torch.manual_seed(11)  # the dropout masks
        for _ in range(4):
            inputs, labels = pool.batch(rng, 12)
            loss, _ = objectness_step(model, inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[name], weights[name] = run, copy.deepcopy(model.net.state_dict())
    assert losses["all"][0] != losses["all"][-1]  # it trained
    np.testing.assert_allclose(losses[mode], losses["all"], rtol=1e-4)
    initial = _net().state_dict()
    for key, value in weights["all"].items():
        learnt = not torch.equal(value, initial[key])
        # conv5 mode: conv5 (features.10) learns, conv1-4 do not; fc mode: no convolution
        assert learnt == (key.startswith("fc") or (mode == "conv5" and "features.10" in key))
        torch.testing.assert_close(weights[mode][key], value, rtol=1e-4, atol=1e-6)
