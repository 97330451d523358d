"""bench.bench_quality: every present target by default, seeds with their spread, CSRT and the
published trackers on the same frames, one JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import bench_quality
from gdt_core.data.otb import load_sequence, present_targets
from gdt_core.metrics.ope import score_sequence
from gdt_core.metrics.otb_results import read_result

pytestmark = pytest.mark.shared_data


def test_present_targets_are_every_shared_target(shared_data: Path) -> None:
    names = present_targets(shared_data / "otb")
    assert len(names) == 16 and {"Jogging-1", "Jogging-2", "David", "Subway"} <= set(names)
    folders = {p.name for p in (shared_data / "otb").iterdir() if p.is_dir()}
    assert len(folders) == 15


def test_seeds_trackers_and_published_results_in_one_report(
    shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "quality.json"
    argv = ["--otb-root", str(shared_data / "otb"), "--targets", "Couple,Crossing"]
    argv += ["--max-frames", "6", "--seeds", "0,1", "--json", str(out)]
    argv += ["--published", str(shared_data / "otb-results")]
    report = bench_quality.main(argv)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["frames"] == {"Couple": 6, "Crossing": 6}
    trackers = report["trackers"]
    assert list(trackers)[:2] == ["gdt-pooled", "csrt"]
    assert set(bench_quality.PUBLISHED) <= set(trackers)
    gdt = trackers["gdt-pooled"]
    per_seed = [gdt["seeds"][s]["auc"] for s in ("0", "1")]
    assert gdt["auc"] == pytest.approx(np.mean(per_seed))
    assert gdt["auc_std"] == pytest.approx(np.std(per_seed))
    assert gdt["auc_min"] == min(per_seed) and gdt["fps"] > 0
    assert list(trackers["csrt"]["seeds"]) == ["0"] and trackers["csrt"]["auc_std"] == 0
    truth = load_sequence(shared_data / "otb", "Couple").ground_truth[:6]
    kcf = read_result(shared_data / "otb-results" / "KCF" / "Couple.txt")[:6]
    expected = score_sequence(truth, kcf).auc
    assert trackers["KCF"]["sequences"]["Couple"]["auc"] == pytest.approx(expected)
    assert trackers["KCF"]["fps"] is None  # published: no speed measured here
    assert report["attribute_targets"]["SV"] == 2  # Couple and Crossing both carry SV
