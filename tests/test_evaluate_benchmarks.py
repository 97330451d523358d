"""``gdt-flow evaluate --dataset lasot|got10k``: the same Ray fan-out as OTB's, results in the
benchmark's layout, its toolkit's scores in the report and the MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_data import got10k_from_synthetic, lasot_from_synthetic
from click.testing import CliRunner

from gdt_core.metrics import benchmarks
from workflows.cli import main

pytestmark = pytest.mark.ray


def _evaluate(tmp_path: Path, *args: str):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = CliRunner().invoke(
        main,
        [
            "evaluate", *args, "--tracker", "csrt", "--out", str(tmp_path / "run"),
            "--json", str(tmp_path / "report.json"),
            "--set", f"mlflow.tracking_uri={uri}", "--set", "mlflow.experiment=bench",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return res, json.loads((tmp_path / "report.json").read_text()), uri


def _run(uri: str, run_id: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri).get_run(run_id)


def test_evaluate_lasot_writes_its_layout_and_logs_its_scores(ray_local, tmp_path: Path):
    root = tmp_path / "LaSOT"
    lasot_from_synthetic(root, "square-1", 24, seed=1, hidden=(5, 6))
    lasot_from_synthetic(root, "square-2", 20, seed=2)
    res, report, uri = _evaluate(tmp_path, "--dataset", "lasot", "--root", str(root),
                                 "--sequences", "all")  # fmt: skip
    assert "square-1: auc" in res.output and "norm_precision" in res.output
    assert report["dataset"] == "lasot" and report["metrics"] == list(benchmarks.METRICS["lasot"])
    own = report["trackers"]["CSRT"]
    # the report's numbers are LaSOT's toolkit's on the result files as written
    videos = {n: benchmarks.load_video("lasot", root, "", n) for n in ("square-1", "square-2")}
    results = {
        n: benchmarks.read_result("lasot", tmp_path / "run" / "CSRT" / f"{n}.txt") for n in videos
    }
    overall, per = benchmarks.set_scores("lasot", videos, results)
    assert own["auc"] == pytest.approx(overall["auc"]) and own["auc"] > 0.5
    assert own["norm_precision"] == pytest.approx(overall["norm_precision"])
    assert per["square-1"]["precision"] <= 22 / 24  # 2 of 24 frames out of view
    run = _run(uri, report["mlflow_run_id"])
    assert run.data.params["dataset"] == "lasot"
    for name in ("auc", "precision", "norm_precision"):
        assert run.data.metrics[name] == pytest.approx(own[name])
    assert run.data.metrics["norm_precision/square-2"] == pytest.approx(
        per["square-2"]["norm_precision"]
    )


def test_evaluate_got10k_writes_its_layout_and_logs_its_scores(ray_local, tmp_path: Path):
    root = tmp_path / "GOT-10k"
    got10k_from_synthetic(root / "val", "GOT-10k_Val_000001", 20, seed=1, hidden=(3,))
    got10k_from_synthetic(root / "val", "GOT-10k_Val_000002", 16, seed=2)
    (root / "val" / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000002\n")
    res, report, uri = _evaluate(tmp_path, "--dataset", "got10k", "--root", str(root),
                                 "--sequences", "all")  # fmt: skip
    own = report["trackers"]["CSRT"]
    assert report["metrics"] == ["ao", "sr50", "sr75"] and own["ao"] > 0.5
    first = tmp_path / "run" / "CSRT" / "GOT-10k_Val_000001" / "GOT-10k_Val_000001_001.txt"
    assert len(first.read_text().splitlines()) == 20
    # pooled over the 18 + 15 scored frames, not the mean of the two videos
    per = own["sequences"]
    pooled = (18 * per["GOT-10k_Val_000001"]["ao"] + 15 * per["GOT-10k_Val_000002"]["ao"]) / 33
    assert own["ao"] == pytest.approx(pooled)
    run = _run(uri, report["mlflow_run_id"])
    assert run.data.params["dataset"] == "got10k"
    assert run.data.metrics["ao"] == pytest.approx(own["ao"])
    assert run.data.metrics["sr75/GOT-10k_Val_000002"] == pytest.approx(
        per["GOT-10k_Val_000002"]["sr75"]
    )


def test_evaluate_needs_the_data_sets_root(tmp_path: Path):
    res = CliRunner().invoke(main, ["evaluate", "--dataset", "lasot", "--sequences", "all"])
    assert res.exit_code == 2 and "--root DIR" in res.output
    # --otb-root is an alias of --root: an empty folder is named, not scored as zero targets
    res = CliRunner().invoke(
        main, ["evaluate", "--dataset", "lasot", "--otb-root", str(tmp_path), "--sequences", "all"]
    )
    assert res.exit_code == 2 and f"{tmp_path}: no LaSOT sequence" in res.output
    res = CliRunner().invoke(main, ["evaluate", "--dataset", "got10k", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "Missing option '--sequences'" in res.output
    res = CliRunner().invoke(
        main, ["evaluate", "--dataset", "got10k", "--root", str(tmp_path), "--sequences", "all"]
    )
    assert res.exit_code == 2 and "GOT-10k split folder not found" in res.output
