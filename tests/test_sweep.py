"""``gdt-flow sweep`` / ``compare`` end to end: Ray Tune trials logged through a real MLflow
tracking server (a ``mlflow server`` process on loopback, SQLite backend, artifacts in tmp).

Trials track one generated 12-frame target with OpenCV's CSRT (the fastest tracker behind the
same interface) so that each trial costs about a second of tracking; what is tested is the
workflow: Tune trials, nesting, resume, failures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.evaluation_data import make_otb_root
from workflows.cli import main

GDT_FLOW = str(Path(sys.executable).parent / "gdt-flow")
SERVER_START_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1; yields its http:// URI; killed by pid at the end."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 -- closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server and its workers
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            tail = (root / "server.log").read_text()[-3000:]
            pytest.fail(f"mlflow server did not start:\n{tail}")
        time.sleep(0.2)  # polling interval of the readiness check, not a synchronisation
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def otb(tmp_path_factory):
    return make_otb_root(tmp_path_factory.mktemp("sweep-otb"))


def _sweep_args(otb, storage: Path, uri: str, experiment: str, values: str, name: str) -> list:
    otb_root, table = otb
    return ["sweep", "--param", "gamma", "--values", values,
            "--otb-root", str(otb_root), "--sequence-table", str(table), "--sequences", "SynA",
            "--tracker", "csrt", "--storage", str(storage), "--name", name,
            "--tracking-uri", uri, "--experiment", experiment, "--max-concurrent", "1"]  # fmt: skip


def _runs(uri: str, experiment: str):
    """(client, parent runs, child runs) of an experiment; no runs if it does not exist yet."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id]) if exp is not None else []
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def _describe(runs) -> str:
    return "\n".join(
        f"{r.info.run_name} {r.info.status} {r.data.tags.get('gdt.error')}" for r in runs
    )


@pytest.fixture(scope="module")
def two_value_sweep(ray_local, mlflow_server, otb, tmp_path_factory):
    """One finished sweep of two gamma values (experiment ``sweep-two``): its CLI result.
    Its records are checked below; its printed links are opened in Chromium."""
    storage = tmp_path_factory.mktemp("sweeps")
    args = _sweep_args(otb, storage, mlflow_server, "sweep-two", "0.85,0.95", "two")
    return CliRunner().invoke(main, args)


@pytest.mark.ray
def test_two_value_gamma_sweep_makes_one_parent_and_two_children(mlflow_server, two_value_sweep):
    assert mlflow_server.startswith("http://127.0.0.1:")
    res = two_value_sweep
    assert res.exit_code == 0, res.output
    assert "trials: 2 finished, 0 stopped early, 0 failed, 0 unfinished" in res.output

    client, parents, children = _runs(mlflow_server, "sweep-two")
    assert len(parents) == 1 and len(children) == 2, _describe(parents + children)
    (parent,) = parents
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.params["gaussian.gamma"] for c in children) == ["0.85", "0.95"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert 0.0 <= child.data.metrics["auc"] <= 1.0 and "precision" in child.data.metrics
        assert "auc/SynA" in child.data.metrics  # the same metrics as gdt-flow evaluate
        assert child.data.tags["gdt.sweep"] == "two"
        # the runs table's name column says the swept value and the score (no column set-up)
        gamma, auc = child.data.params["gaussian.gamma"], child.data.metrics["auc"]
        assert child.info.run_name.endswith(f" gaussian.gamma={gamma} auc={auc:.3f}")
    assert parent.info.status == "FINISHED"
    assert parent.data.params["sweep.params"] == "gaussian.gamma"
    space = json.loads(parent.data.params["sweep.space"])
    assert space == {"gaussian.gamma": {"grid": [0.85, 0.95]}}
    assert parent.data.params["sweep.metric"] == "auc"
    (best,) = [c for c in children if c.info.run_id == parent.data.tags["best.run_id"]]
    assert best.data.metrics["auc"] == max(c.data.metrics["auc"] for c in children)
    assert parent.data.metrics["best_auc"] == pytest.approx(best.data.metrics["auc"])
    assert parent.data.tags["best.gaussian.gamma"] == best.data.params["gaussian.gamma"]
    best_auc, best_gamma = best.data.metrics["auc"], best.data.params["gaussian.gamma"]
    assert parent.info.run_name == f"two best auc={best_auc:.3f} at gaussian.gamma={best_gamma}"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert artifacts == {"plots/auc_vs_gaussian.gamma.png"}

    prefix = parent.info.run_id[:12]  # as the tables print it
    shown = CliRunner().invoke(
        main, ["compare", "--tracking-uri", mlflow_server, "--parent", prefix]
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split() == ["run", "run_id", "status", "auc", "precision", "fps"] + [
        "tracker",
        "weights",
        "targets",
        "gaussian.gamma",
    ]
    assert len([line for line in lines if "FINISHED" in line]) == 2
    assert f"--set gaussian.gamma={best.data.params['gaussian.gamma']}" in shown.output
    whole = CliRunner().invoke(
        main, ["compare", "--tracking-uri", mlflow_server, "--experiment", "sweep-two"]
    )
    assert whole.exit_code == 0, whole.output
    assert "gaussian.gamma" in whole.output.splitlines()[0]  # the key that varies among runs
    # header, rule, the 2 trials (not the parent); blank, best, --set; the runs table's URL
    assert len(whole.output.splitlines()) == 2 + 2 + 3 + 2
    experiment_id = parent.info.experiment_id
    assert whole.output.splitlines()[-1].strip() == (
        f"{mlflow_server}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    )
    ids = json.dumps([c.info.run_id for c in children], separators=(",", ":"))
    assert f"{mlflow_server}/#/compare-runs?runs=" in res.output  # the sweep's own summary
    assert sorted(json.loads(res.output.split("compare-runs?runs=")[1].split("&")[0])) == sorted(
        json.loads(ids)
    )


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"sweep ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)  # polling interval of the MLflow store, not a synchronisation


def _finished_children(uri: str, experiment: str) -> int:
    return sum(1 for c in _runs(uri, experiment)[2] if c.info.status == "FINISHED")


@pytest.mark.ray
def test_interrupted_sweep_resumes_without_rerunning(ray_local, mlflow_server, otb, tmp_path: Path):
    """Interrupt (Ctrl-C) once a trial has finished; --resume runs the rest, no trial twice."""
    storage = tmp_path / "sweeps"
    values = "0.8,0.85,0.9,0.95,1.0"  # five trials: some are left when the first has finished
    args = _sweep_args(otb, storage, mlflow_server, "sweep-resume", values, "resume")
    address = ray_local.get_runtime_context().gcs_address
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [GDT_FLOW, *args, "--address", address], cwd=tmp_path, stdout=out, stderr=out
        )
        try:
            _wait_for(
                lambda: _finished_children(mlflow_server, "sweep-resume") >= 1,
                240,
                "the first finished trial",
                proc,
            )
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 130, log.read_text()[-3000:]  # interrupted with trials left
    _, parents, children = _runs(mlflow_server, "sweep-resume")
    assert parents[0].info.status == "KILLED"
    before = {c.info.run_id for c in children if c.info.status == "FINISHED"}
    assert 1 <= len(before) < 5, _describe(children)
    records = sorted((storage / "resume" / "evaluations").glob("*/targets/*.json"))
    written = {path: path.stat().st_mtime_ns for path in records}  # one per tracked target

    res = CliRunner().invoke(
        main, ["sweep", "--resume", "--name", "resume", "--storage", str(storage)]
    )
    assert res.exit_code == 0, res.output
    assert "trials: 5 finished, 0 stopped early, 0 failed, 0 unfinished" in res.output

    client, parents, children = _runs(mlflow_server, "sweep-resume")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trial_ids = [c.data.tags["gdt.trial_id"] for c in children]
    assert len(children) == 5 and len(set(trial_ids)) == 5, _describe(children)  # none twice
    assert before <= {c.info.run_id for c in children}  # finished children kept as they were
    assert {p: p.stat().st_mtime_ns for p in records} == written  # no target tracked again
    by_gamma = {c.data.params["gaussian.gamma"]: c for c in children}
    assert sorted(by_gamma) == ["0.8", "0.85", "0.9", "0.95", "1.0"]
    assert {c.info.status for c in children} == {"FINISHED"}


def test_a_bad_value_is_refused_before_ray_starts(mlflow_server, otb, tmp_path: Path):
    args = _sweep_args(otb, tmp_path / "sweeps", mlflow_server, "sweep-bad", "0.8,1.5", "bad")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output  # a usage error, as --set gaussian.gamma=1.5 is
    assert "'gaussian.gamma' = 1.5 out of range (must be <= 1.0)" in res.output
    assert "Traceback" not in res.output and "RayTaskError" not in res.output
    _, parents, children = _runs(mlflow_server, "sweep-bad")
    assert parents == [] and children == []  # nothing started, nothing logged


@pytest.mark.ray
def test_a_failing_trial_is_recorded_while_the_others_finish(
    ray_local, mlflow_server, otb, tmp_path: Path
):
    """tracker.device=cuda is a valid value that fails inside its trial on a machine
    without CUDA: ERROR in Tune, FAILED in MLflow with the error as tag and artifact, exit 1,
    and the other trial finishes."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the cuda trial would not fail")
    otb_root, table = otb
    fast = [
        "network.input_size=99",
        "tracker.pooled_target_size=32",
        "phase2.max_iterations=2",
        "sampling.first_frame_positives=16",
        "sampling.first_frame_negatives=32",
    ]
    args = ["sweep", "--param", "tracker.device", "--values", "cpu,cuda",
            "--otb-root", str(otb_root), "--sequence-table", str(table), "--sequences", "SynA",
            "--tracker", "gdt", "--storage", str(tmp_path / "sweeps"), "--name", "devices",
            "--tracking-uri", mlflow_server, "--experiment", "sweep-fail",
            "--max-concurrent", "1", *[a for item in fast for a in ("--set", item)]]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert "trials: 1 finished, 0 stopped early, 1 failed, 0 unfinished" in res.output
    assert "1 trial(s) of sweep devices failed" in res.output
    client, _, children = _runs(mlflow_server, "sweep-fail")
    by_device = {c.data.params["tracker.device"]: c for c in children}
    assert by_device["cpu"].info.status == "FINISHED"
    failed = by_device["cuda"]
    assert failed.info.status == "FAILED"
    assert "tracker.device=cuda, but torch sees no CUDA GPU" in failed.data.tags["gdt.error"]
    assert [a.path for a in client.list_artifacts(failed.info.run_id)] == ["error.txt"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _page(url: str) -> str:
    """The DOM of ``url`` after its scripts ran, from headless Debian Chromium."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu"]
    command += ["--virtual-time-budget=20000", "--dump-dom", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=180).stdout


@pytest.mark.ray
def test_the_printed_mlflow_ui_links_show_the_trials_and_the_runs_table(
    mlflow_server, two_value_sweep
):
    if CHROMIUM is None:
        pytest.skip("no Chromium here (apt-get install -y chromium): the UI pages are not opened")
    res = two_value_sweep
    assert res.exit_code == 0, res.output
    compare_link = res.output.split("the trials in the MLflow UI:")[1].split()[0]
    page = _page(compare_link)
    _, _, children = _runs(mlflow_server, "sweep-two")
    assert "gaussian.gamma" in page and "0.85" in page and "0.95" in page  # the swept values
    for child in children:  # and each trial's auc, as the compare page rounds it (3-4 places)
        auc = child.data.metrics["auc"]
        assert f"{auc:.3f}" in page or f"{auc:.4f}" in page, auc
    shown = CliRunner().invoke(
        main, ["compare", "--tracking-uri", mlflow_server, "--experiment", "sweep-two"]
    )
    runs_link = shown.output.strip().splitlines()[-1].strip()
    assert runs_link.endswith("/runs?workflowType=machine_learning")
    table = _page(runs_link)
    assert "Run Name" in table  # the runs table, not the GenAI overview
    (parent,) = _runs(mlflow_server, "sweep-two")[1]
    assert parent.info.run_name.startswith("two best auc=") and parent.info.run_name in table
    overview = _page(runs_link.split("/runs?")[0])  # what the plain experiment link opens
    assert "Run Name" not in overview and "Traces" in overview


def test_a_failed_trials_run_spans_the_trial_not_the_moment_of_failure(tmp_path: Path):
    from types import SimpleNamespace

    from mlflow import MlflowClient

    from workflows.sweep.tune_sweep import _open_child_run, _record_failed_trial

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("failed-span")
    parent = client.create_run(experiment).info.run_id
    context = SimpleNamespace(
        tracking_uri=uri, parent_run_id=parent, name="s", experiment_id=experiment
    )
    run_id = _open_child_run(context, "t1", "trial_1", {"gaussian.gamma": 0.9})  # trial starts
    started = client.get_run(run_id).info.start_time
    failure = ("RuntimeError: boom", "Traceback ...")
    _record_failed_trial(context, run_id, failure)  # ... and fails, later
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.info.start_time == started
    assert run.info.end_time >= run.info.start_time
    assert run.data.tags["gdt.error"] == "RuntimeError: boom"
    assert run.data.params == {"gaussian.gamma": "0.9"}
    assert [a.path for a in client.list_artifacts(run_id)] == ["error.txt"]
