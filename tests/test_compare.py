"""`gdt-flow compare`: table and best configuration; the sweep plot; `gdt-flow ui`'s command."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from workflows.cli import main
from workflows.run_table import best_config, format_runs, parse_param, varying_config_keys
from workflows.sweep_plots import plot_objective

RUNS = pd.DataFrame(
    {
        "run_id": ["aaaa", "bbbb", "cccc", "dddd"],
        "status": ["FINISHED", "FINISHED", "FAILED", "FINISHED"],
        "tags.mlflow.runName": ["t0", "t1", "t2", "parent"],
        "metrics.auc": [0.41, 0.57, math.nan, math.nan],
        "metrics.precision": [0.6, 0.5, math.nan, math.nan],
        "params.gaussian.gamma": ["0.9", "0.95", "1.5", None],
        "params.candidates.num_scales": ["3", "3", "3", None],
        "params.tracker": ["gdt", "gdt", "gdt", None],
    }
)


def test_runs_sorted_by_the_objective_with_failed_runs_last():
    table = format_runs(RUNS, "auc", ["gaussian.gamma"]).splitlines()
    assert table[0].split() == ["run", "run_id", "status", "auc", "precision", "fps"] + [
        "gaussian.gamma"
    ]
    assert [line.split()[0] for line in table[2:]] == ["t1", "t0", "t2", "parent"]
    assert table[2].split()[3:] == ["0.5700", "0.5000", "-", "0.95"]
    by_precision = format_runs(RUNS, "precision", []).splitlines()
    assert [line.split()[0] for line in by_precision[2:4]] == ["t0", "t1"]


def test_best_config_and_the_keys_that_vary():
    assert varying_config_keys(RUNS) == ["gaussian.gamma"]  # num_scales is constant
    best = best_config(RUNS, "auc", ["gaussian.gamma", "candidates.num_scales"])
    assert best == {
        "run_id": "bbbb",
        "run_name": "t1",
        "config": {"gaussian.gamma": 0.95, "candidates.num_scales": 3},
        "metrics": {"auc": 0.57, "precision": 0.5},
    }
    assert best_config(RUNS[RUNS.status == "FAILED"], "auc", ["gaussian.gamma"]) is None
    assert [parse_param(t) for t in ("3", "0.5", "1e-4", "pooled")] == [3, 0.5, 1e-4, "pooled"]


def test_objective_plot_per_swept_key(tmp_path: Path):
    frame = RUNS.assign(**{"params.tracker.candidate_features": ["crop", "pooled", "crop", None]})
    keys = ["gaussian.gamma", "tracker.candidate_features"]
    written = plot_objective(frame, keys, "auc", tmp_path)
    assert [p.name for p in written] == [
        "auc_vs_gaussian.gamma.png",
        "auc_vs_tracker.candidate_features.png",
    ]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_ui_serves_the_resolved_store_on_loopback(monkeypatch, tmp_path: Path):
    calls = []
    monkeypatch.setattr("os.execv", lambda path, argv: calls.append(argv))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    res = CliRunner().invoke(main, ["ui", "--port", "5055"])
    assert res.exit_code == 0, res.output
    (argv,) = calls
    assert argv[1:4] == ["-m", "mlflow", "server"]
    assert (
        argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    )
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "5055"

    res = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0"])
    assert calls[1][calls[1].index("--host") + 1] == "0.0.0.0"
    assert "reachable from other hosts" in res.output

    res = CliRunner().invoke(main, ["ui", "--tracking-uri", "http://127.0.0.1:5000"])
    assert res.exit_code == 2 and "is a server already" in res.output
