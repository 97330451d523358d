"""`gdt-flow compare`: table and best configuration; the sweep plot; `gdt-flow ui`'s command."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from workflows.cli import main
from workflows.runs.run_table import (
    best_config,
    format_best,
    format_runs,
    parse_param,
    resolve_run_id,
    varying_config_keys,
    without_sweep_parents,
)
from workflows.sweep.sweep_plots import plot_objective

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
        "params.weights": ["alexnet-imagenet-conv"] * 3 + [None],
        "params.sequences": ["A,B"] * 3 + [None],
        "params.num_sequences": ["2"] * 3 + [None],
    }
)
# a CSRT run (higher AUC, other targets), a GDT run on other targets, a sweep's parent
OTHERS = pd.DataFrame(
    {
        "run_id": ["eeee", "ffff", "gggg"],
        "status": ["FINISHED"] * 3,
        "tags.mlflow.runName": ["csrt", "gdt-3", "sweep"],
        "metrics.auc": [0.8, 0.7, math.nan],
        "params.gaussian.gamma": ["0.95", "0.8", None],
        "params.candidates.num_scales": ["3", "3", None],
        "params.tracker": ["csrt", "gdt", "gdt"],
        "params.weights": ["none", "alexnet-imagenet-conv", None],
        "params.sequences": ["A,B,C", "A,B,C", None],
        "params.num_sequences": ["3", "3", None],
        "params.sweep.params": [None, None, "gaussian.gamma"],
    }
)


def test_runs_sorted_by_the_objective_with_failed_runs_last():
    table = format_runs(RUNS, "auc", ["gaussian.gamma"]).splitlines()
    assert table[0].split() == ["run", "run_id", "status", "auc", "precision", "fps"] + [
        "tracker",
        "weights",
        "targets",
        "gaussian.gamma",
    ]
    assert [line.split()[0] for line in table[2:]] == ["t1", "t0", "t2", "parent"]
    assert table[2].split()[3:] == ["0.5700", "0.5000", "-", "gdt", "alexnet-imagenet-conv"] + [
        "2",
        "0.95",
    ]
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
        "compared": 2,
        "groups": 1,
        "group": {"tracker": "gdt", "weights": "alexnet-imagenet-conv", "targets": "A,B"},
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
    monkeypatch.setattr(
        "workflows.runs.compare_cmd.serve", lambda argv, base, landing: calls.append(argv) or 0
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    res = CliRunner().invoke(main, ["ui", "--port", "5055"])
    assert res.exit_code == 0, res.output
    (argv,) = calls
    assert argv[1:4] == ["-m", "mlflow", "server"]
    assert (
        argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    )
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "5055"
    assert argv[argv.index("--workers") + 1] == "1"  # 2 cores: not MLflow's 4
    assert not (tmp_path / "mlflow.db").exists()  # looking for the experiment created nothing

    res = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0"])
    assert calls[1][calls[1].index("--host") + 1] == "0.0.0.0"
    assert "reachable from other hosts" in res.output

    res = CliRunner().invoke(main, ["ui", "--tracking-uri", "http://127.0.0.1:5000"])
    assert res.exit_code == 2 and "is a server already" in res.output


def test_ui_landing_is_announced_only_once_the_server_answers():
    import http.server
    import subprocess
    import sys
    import threading

    from workflows.runs.compare_cmd import wait_until_up

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 -- http.server's name
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert wait_until_up(f"http://127.0.0.1:{server.server_port}", alive, 10)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        closed = f"http://127.0.0.1:{server.server_port + 1}"  # nothing listens there
        assert not wait_until_up(closed, dead, 10)  # the server process ended: no waiting
    finally:
        alive.kill()
        server.shutdown()


def test_ui_links_land_on_runs_and_on_the_compare_page():
    from workflows.runs.mlflow_urls import compare_url, runs_url, ui_base

    assert ui_base("sqlite:////x/mlflow.db") == "http://127.0.0.1:5000"
    assert ui_base("http://10.0.0.5:5000/") == "http://10.0.0.5:5000"
    base = "http://127.0.0.1:5000"
    assert runs_url(base, "3") == f"{base}/#/experiments/3/runs?workflowType=machine_learning"
    assert compare_url(base, "3", ["a", "b"]) == (
        f'{base}/#/compare-runs?runs=["a","b"]&experiments=["3"]'
    )


def test_best_config_compares_like_with_like_and_skips_sweep_parents():
    runs = without_sweep_parents(pd.concat([RUNS, OTHERS], ignore_index=True))
    assert "sweep" not in set(runs["tags.mlflow.runName"])  # no fake nan row
    best = best_config(runs, "auc", ["gaussian.gamma"])
    # CSRT's 0.8 is no evidence about gamma; GDT's 0.7 on 3 targets is one run against two
    assert best["run_id"] == "bbbb" and best["compared"] == 2 and best["groups"] == 3
    text = format_best(best, "auc")
    assert "among 2 run(s) of tracker gdt, weights alexnet-imagenet-conv" in text
    assert "2 other group(s)" in text and "--set gaussian.gamma=0.95" in text


def test_run_ids_resolve_from_any_unique_prefix():
    runs = pd.DataFrame({"run_id": ["abc123def456aa", "abc999", "ffff"]})
    assert resolve_run_id(runs, "abc123") == "abc123def456aa"
    with pytest.raises(ValueError, match="'abc': 2 runs"):
        resolve_run_id(runs, "abc")
    with pytest.raises(ValueError, match="'zz': no run"):
        resolve_run_id(runs, "zz")
