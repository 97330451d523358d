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


def _lasot_setup(tmp_path: Path) -> tuple[Path, Path]:
    from benchmark_data import write_lasot_video

    root = tmp_path / "LaSOT"
    boxes = ["1,1,10,10", "3,1,10,10", "5,1,10,10", "7,1,10,10"]
    write_lasot_video(root / "cat" / "cat-1", boxes, "0,0,0,1", "0,0,0,0")
    write_lasot_video(root / "cat" / "cat-2", boxes)
    results = tmp_path / "results"
    for name in ("cat-1", "cat-2"):
        exact = results / "Exact" / f"{name}.txt"
        exact.parent.mkdir(parents=True, exist_ok=True)
        exact.write_text("".join(b + "\n" for b in boxes))
        still = results / "Still" / f"{name}.txt"  # never moves: 2 px, 4 px, 6 px off
        still.parent.mkdir(parents=True, exist_ok=True)
        still.write_text("1,1,10,10\n" * 4)
    return root, results


def test_report_scores_lasot_result_folders_with_its_toolkit(tmp_path: Path):
    root, results = _lasot_setup(tmp_path)
    out = tmp_path / "lasot.json"
    r = _report(
        "--dataset", "lasot", "--root", str(root), "--results", str(results), "--json", str(out)
    )
    assert r.exit_code == 0, r.output
    assert "lasot on 2 videos, 2 trackers" in r.output
    scores = json.loads(out.read_text())
    exact = scores["trackers"]["Exact"]
    # cat-1's frame 4 is occluded: 3 of 4 frames can succeed; cat-2 all 4
    assert exact["per_sequence"]["cat-1"]["auc"] == pytest.approx(0.75 * 20 / 21)
    assert exact["overall"]["auc"] == pytest.approx((0.75 + 1.0) / 2 * 20 / 21)
    assert exact["overall"]["norm_precision"] == pytest.approx((0.75 + 1.0) / 2)
    still = scores["trackers"]["Still"]["per_sequence"]["cat-2"]
    # offsets 0, 2, 4, 6 px of a 10 px box: normalised 0, 0.2, 0.4, 0.6 -> 2 within 0.20
    assert still["norm_precision"] == pytest.approx(0.5) and still["precision"] == 1.0
    assert r.output.index("Exact") < r.output.index("Still")  # ranked by AUC


def test_report_scores_got10k_result_folders_and_refuses_the_test_split(tmp_path: Path):
    from benchmark_data import write_got10k_video

    root = tmp_path / "GOT-10k"
    boxes = ["0,0,10,10", "0,0,10,10", "5,0,10,10"]
    write_got10k_video(root / "val" / "V1", boxes, 3, "8\n8\n8\n", resolution="(40, 30)")
    write_got10k_video(root / "val" / "V2", boxes[:2], 2, "8\n0\n", resolution="(40, 30)")
    results = tmp_path / "results"
    for name, rows in (("V1", ["0,0,10,10"] * 3), ("V2", ["0,0,10,10"] * 2)):
        path = results / "Still" / name / f"{name}_001.txt"
        path.parent.mkdir(parents=True)
        path.write_text("".join(row + "\n" for row in rows))
    out = tmp_path / "got.json"
    r = _report(
        "--dataset", "got10k", "--root", str(root), "--results", str(results), "--json", str(out)
    )
    assert r.exit_code == 0, r.output
    still = json.loads(out.read_text())["trackers"]["Still"]
    # V1 frames 2, 3: IoU 1 and 1/3; V2 frame 2 has cover 0: nothing
    assert still["overall"]["ao"] == pytest.approx(2 / 3)
    assert still["overall"]["sr50"] == 0.5 and still["per_sequence"]["V1"]["sr75"] == 0.5
    assert still["per_sequence"]["V2"]["ao"] != still["per_sequence"]["V2"]["ao"]  # NaN

    write_got10k_video(root / "test" / "T1", boxes[:1], 3, None)
    r = CliRunner().invoke(
        main,
        [
            "report",
            "--dataset",
            "got10k",
            "--root",
            str(root),
            "--split",
            "test",
            "--results",
            str(results),
        ],
    )
    assert r.exit_code == 1 and "scored by the GOT-10k server" in r.output


def test_report_other_datasets_need_their_root_and_have_no_otb_plots(tmp_path: Path):
    root, results = _lasot_setup(tmp_path)
    r = CliRunner().invoke(main, ["report", "--dataset", "lasot", "--results", str(results)])
    assert r.exit_code == 2 and "--dataset lasot needs --root" in r.output
    r = CliRunner().invoke(
        main,
        [
            "report",
            "--dataset",
            "lasot",
            "--root",
            str(root),
            "--results",
            str(results),
            "--plots",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2 and "--plots draws OTB's plots" in r.output
    (results / "Still" / "cat-2.txt").unlink()
    r = _report("--dataset", "lasot", "--root", str(root), "--results", str(results))
    assert r.exit_code == 0 and "skipped Still: no result for cat-2" in r.output
