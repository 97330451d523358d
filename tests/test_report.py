"""``gdt-flow report``: the published OTB numbers of 8 trackers, JSON, plots, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from workflows.cli import main

# Issue 2's acceptance table: (AUC, precision@20) on the CVPR2013 targets.
PUBLISHED = {
    "Struck": (0.474, 0.641),
    "KCF": (0.514, 0.740),
    "CSK": (0.398, 0.545),
    "DSST": (0.503, 0.737),
    "MEEM": (0.575, 0.844),
    "OAB": (0.370, 0.506),
    "TLD": (0.366, 0.511),
    "CFWLB": (0.335, 0.456),
}


def _report(*args: str):
    return CliRunner().invoke(main, ["report", *args], catch_exceptions=False)


def test_reproduces_the_published_cvpr13_scores(shared_data: Path, tmp_path: Path):
    out = tmp_path / "scores.json"
    result = _report(
        "--anno",
        str(shared_data / "otb-anno"),
        "--results",
        str(shared_data / "otb-results"),
        "--sequences",
        "cvpr13",
        "--json",
        str(out),
    )
    assert result.exit_code == 0, result.output
    trackers = json.loads(out.read_text())["trackers"]
    assert set(trackers) == set(PUBLISHED)
    for name, (auc, precision) in PUBLISHED.items():
        assert trackers[name]["auc"] == pytest.approx(auc, abs=1e-3), name
        assert trackers[name]["precision"] == pytest.approx(precision, abs=1e-3), name
        assert len(trackers[name]["sequences"]) == 51
        assert len(trackers[name]["attributes"]) == 11
    ranked = [line.split()[1] for line in result.output.splitlines()[3:11]]
    assert ranked == ["MEEM", "KCF", "DSST", "Struck", "CSK", "OAB", "TLD", "CFWLB"]


def test_otb_root_ground_truth_plots_and_skipped_trackers(shared_data: Path, tmp_path: Path):
    results = tmp_path / "results"
    for tracker in ("KCF", "CSK"):
        (results / tracker).mkdir(parents=True)
        for seq in ("David", "Jogging-2"):
            src = shared_data / "otb-results" / tracker / f"{seq}.txt"
            shutil.copy(src, results / tracker / src.name)
    (results / "CSK" / "David.txt").unlink()
    plots = tmp_path / "plots"
    result = CliRunner().invoke(
        main,
        ["report", "--otb-root", str(shared_data / "otb"), "--results", str(results)]
        + ["--sequences", "David,Jogging-2", "--plots", str(plots)],
    )
    assert result.exit_code == 0, result.output
    assert "skipped CSK: no result for David" in result.output
    names = {p.name for p in plots.glob("*.png")}
    assert {"success_overall.png", "precision_overall.png", "success_OCC.png"} <= names
    assert len(names) == 2 * (1 + 7)  # overall + the 7 attributes of David and Jogging-2
    assert all(p.stat().st_size > 10_000 for p in plots.glob("*.png"))


def test_usage_and_input_errors(tmp_path: Path):
    anno = tmp_path / "anno"
    anno.mkdir()
    (anno / "Deer.txt").write_text("10,10,20,20\n" * 71)
    results = tmp_path / "results"
    (results / "T").mkdir(parents=True)
    (results / "T" / "Deer.txt").write_text("10,10,20,20\n" * 3 + "10,10,20\n")

    runner = CliRunner()
    both = runner.invoke(
        main, ["report", "--anno", str(anno), "--otb-root", str(anno)] + ["--results", str(results)]
    )
    assert both.exit_code == 2 and "exactly one of --anno" in both.output
    unknown = runner.invoke(
        main,
        ["report", "--anno", str(anno), "--results", str(results)] + ["--sequences", "Deer,NoSuch"],
    )
    assert unknown.exit_code == 1 and "NoSuch" in unknown.output
    bad = runner.invoke(
        main, ["report", "--anno", str(anno), "--results", str(results)] + ["--sequences", "Deer"]
    )
    assert bad.exit_code == 1 and "Deer.txt:4: expected 4 numbers" in bad.output
    (results / "T" / "Deer.txt").write_text("10,10,20,20\n" * 71)
    good = runner.invoke(
        main, ["report", "--anno", str(anno), "--results", str(results)] + ["--sequences", "Deer"]
    )
    assert good.exit_code == 0 and " 1  T  " in good.output
    assert "T         0.952   1.000" in good.output  # overlap 1 is not > 1: AUC 20/21
    (tmp_path / "again" / "T").mkdir(parents=True)
    (tmp_path / "again" / "T" / "Deer.txt").write_text("10,10,20,20\n" * 71)
    clash = runner.invoke(
        main,
        ["report", "--anno", str(anno), "--results", str(results)]
        + ["--results", str(tmp_path / "again"), "--sequences", "Deer"],
    )
    assert clash.exit_code == 2 and "tracker 'T' is in both" in clash.output
