"""The prepared phase-1 device check, run here at a tiny size: its pack and its script, which
must work without Ray and MLflow (the device has neither)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.device_pack import shrink_voc
from gdt_core.config import load_config
from gdt_core.data.det import list_entries, read_record
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.network import build_network

ROOT = Path(__file__).resolve().parents[1]
NO_RAY_NO_MLFLOW = (
    "import runpy, sys; sys.modules['ray'] = None; sys.modules['mlflow'] = None; "
    "sys.argv = ['device_phase1', *sys.argv[1:]]; "
    "runpy.run_module('bench.device_phase1', run_name='__main__')"
)


@pytest.mark.shared_data
def test_shrunk_photos_keep_their_boxes(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "voc"
    (src / "Annotations").mkdir(parents=True)
    (src / "JPEGImages").mkdir()
    for entry in list_entries(shared_data / "voc-raccoon")[:3]:
        shutil.copy(entry.annotation, src / "Annotations")
        record = read_record(entry)
        shutil.copy(record.image, src / "JPEGImages")
    written = shrink_voc(src, tmp_path / "small", max_side=200, quality=80)
    assert 0 < written < sum(p.stat().st_size for p in src.rglob("*.*"))
    for big, small in zip(list_entries(src), list_entries(tmp_path / "small"), strict=True):
        a, b = read_record(big), read_record(small)
        scale = b.width / a.width
        assert max(b.width, b.height) == 200 and abs(b.height / a.height - scale) < 0.01
        np.testing.assert_allclose(b.boxes, a.boxes * scale, atol=1.5)
        assert b.names == a.names


@pytest.mark.shared_data
def test_the_device_check_runs_end_to_end_without_ray_or_mlflow(
    shared_data: Path, tmp_path: Path
) -> None:
    pack = tmp_path / "pack"
    generate_det(pack / "det" / "synthetic", 8, seed=5)
    shutil.copytree(shared_data / "otb" / "Crossing", pack / "otb" / "Crossing")
    cfg = load_config()
    conv = {k: v for k, v in build_network(cfg.network).state_dict().items() if "features" in k}
    (pack / "weights").mkdir()
    torch.save(conv, pack / "weights" / "alexnet-imagenet-conv.pth")
    tiny = {
        "network.input_size": 67,
        "network.fc6_dim": 32,
        "network.fc7_dim": 8,
        "phase1.num_patches": 64,
        "phase1.iterations": 4,
        "phase1.batch_size": 8,
        "phase1.holdout_fraction": 0.3,
    }
    sets = [arg for key, value in tiny.items() for arg in ("--set", f"{key}={value}")]
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", NO_RAY_NO_MLFLOW, "--pack", str(pack), "--out", str(out)]
    cmd += ["--work", str(tmp_path / "work"), "--device", "cpu", "--processes", "2"]
    cmd += ["--log-every", "2", "--eval-every", "4", "--max-frames", "6", *sets]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "device_phase1.json").read_text())
    assert report["patches"]["object"] + report["patches"]["background"] == 64
    phase1 = report["phase1"]
    assert phase1["iterations_done"] == 4 and not phase1["stopped_at_budget"]
    assert [m["step"] for m in phase1["curve"]] == [2, 4]
    assert "heldout_accuracy" in phase1["curve"][-1] and phase1["patches_per_s_median"] > 0
    assert set(report["tracking"]) == {"imagenet", "phase1"}
    for scores in report["tracking"].values():
        assert list(scores["sequences"]) == ["Crossing"] and 0 <= scores["auc"] <= 1
    assert (tmp_path / "work" / "phase1.pt").is_file()


def test_the_device_check_stops_at_its_budget(tmp_path: Path) -> None:
    """--budget-s 0: training stops after its first logging step and says so."""
    pack = tmp_path / "pack"
    generate_det(pack / "det" / "synthetic", 6, seed=6)
    (pack / "otb").mkdir()
    cfg = load_config()
    conv = {k: v for k, v in build_network(cfg.network).state_dict().items() if "features" in k}
    (pack / "weights").mkdir()
    torch.save(conv, pack / "weights" / "alexnet-imagenet-conv.pth")
    cmd = [sys.executable, "-c", NO_RAY_NO_MLFLOW, "--pack", str(pack), "--out", str(tmp_path)]
    cmd += ["--work", str(tmp_path / "work"), "--device", "cpu", "--processes", "1"]
    cmd += ["--budget-s", "0", "--log-every", "1", "--eval-every", "100"]
    for key, value in {
        "network.input_size": 67,
        "network.fc6_dim": 16,
        "network.fc7_dim": 4,
        "phase1.num_patches": 40,
        "phase1.iterations": 50,
        "phase1.batch_size": 4,
    }.items():
        cmd += ["--set", f"{key}={value}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    phase1 = json.loads((tmp_path / "device_phase1.json").read_text())["phase1"]
    assert phase1["stopped_at_budget"] and phase1["iterations_done"] == 1
    assert phase1["iterations_planned"] == 50
