"""Evaluation on Ray actors: a killed actor is restarted and its target redone; the CLI's
complete MLflow record; an unreachable MLflow server loses nothing (``gdt-flow log-run``)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import ray
from click.testing import CliRunner
from evaluation_data import TARGETS, make_otb_root
from ray import cloudpickle

from gdt_core.config import load_config
from gdt_core.data.box_file import read_box_file
from gdt_core.metrics.otb_results import read_result, write_result
from workflows.cli import main
from workflows.evaluate.evaluate_job import run_evaluation
from workflows.evaluate.evaluation import EvaluationSpec, evaluate_targets

pytestmark = pytest.mark.ray
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook and gate run in workers


@pytest.fixture(scope="module")
def otb(tmp_path_factory) -> tuple[Path, Path]:
    return make_otb_root(tmp_path_factory.mktemp("otb"))


@ray.remote
class Gate:
    """Where the blocked actor hands over its own handle, and counts arrivals at the fault."""

    def __init__(self) -> None:
        self.arrivals = 0
        self.victim = None
        self.arrived = asyncio.Event()
        self.never = asyncio.Event()

    async def arrive(self, handle) -> bool:
        self.arrivals += 1
        if self.arrivals == 1:
            self.victim = handle
            self.arrived.set()
        return self.arrivals == 1

    async def wait_victim(self):
        await self.arrived.wait()
        return self.victim

    async def hold(self) -> None:  # never released: the caller waits here until killed
        await self.never.wait()

    def count(self) -> int:
        return self.arrivals


class BlockOnceAt:
    """Frame hook: the first time ``sequence`` reaches ``frame``, wait there to be killed."""

    def __init__(self, gate, sequence: str, frame: int) -> None:
        self.gate, self.sequence, self.frame = gate, sequence, frame

    def __call__(self, sequence: str, frame: int) -> None:
        if (sequence, frame) == (self.sequence, self.frame):
            me = ray.get_runtime_context().current_actor
            if ray.get(self.gate.arrive.remote(me)):
                ray.get(self.gate.hold.remote(), timeout=120)


@ray.remote
class Door:
    """Closed until the driver opens it; ``wait`` returns once it is open."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def wait(self) -> None:
        await self.opened.wait()

    async def open(self) -> None:
        self.opened.set()


class HoldAt:
    """Frame hook: at ``frame`` of any target, wait until the door is opened."""

    def __init__(self, door, frame: int) -> None:
        self.door, self.frame = door, frame

    def __call__(self, sequence: str, frame: int) -> None:
        if frame == self.frame:
            ray.get(self.door.wait.remote(), timeout=120)


def test_a_running_target_reports_its_frame(ray_local, otb, tmp_path: Path):
    """The actor stops at frame 5 until the driver has printed where it is: progress comes
    while a target runs, not only when it ends."""
    root, table = otb
    cfg = load_config().replace({"ray.progress_every_s": 0.2})  # the driver's poll interval
    spec = EvaluationSpec(cfg, "csrt", root=str(root), sequence_table=str(table))
    door, seen = Door.remote(), []

    def on_progress(sequence: str, frames: int) -> None:
        seen.append((sequence, frames))
        if frames >= 5:  # earlier reports come before the hold; while held, only 5 can
            door.open.remote()

    result, _ = run_evaluation(
        spec, ["SynA"], tmp_path / "run", on_frame=HoldAt(door, 5), on_progress=on_progress
    )
    assert ("SynA", 5) in seen and result.records[0].done


def test_killed_actor_is_restarted_and_its_target_redone(ray_local, otb, tmp_path: Path):
    root, table = otb
    cfg = load_config()
    names = list(TARGETS)
    reference = evaluate_targets(
        cfg, names, root, "csrt", None, tmp_path / "ref", sequence_table=table
    )
    spec = EvaluationSpec(cfg, "csrt", root=str(root), sequence_table=str(table))
    gate = Gate.remote()
    hook = BlockOnceAt(gate, "SynB", 6)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(
            run_evaluation, spec, names, tmp_path / "run", max_actors=2, on_frame=hook
        )
        victim = ray.get(gate.wait_victim.remote(), timeout=120)  # SynB is mid-sequence now
        ray.kill(victim, no_restart=False)
        result, startup = job.result(timeout=300)
    records = {r.sequence: r for r in result.records}
    assert all(r.done for r in records.values())
    assert records["SynB"].actor_restarted  # ran again on the restarted actor ...
    assert ray.get(gate.count.remote()) == 2  # ... from the start, past frame 6 again
    assert len(startup) == 2
    for ref in reference.records:  # and nothing differs from an undisturbed run
        np.testing.assert_array_equal(
            read_result(tmp_path / "run" / "CSRT" / f"{ref.sequence}.txt"),
            read_result(tmp_path / "ref" / "CSRT" / f"{ref.sequence}.txt"),
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _published(tmp_path: Path, root: Path) -> Path:
    """A 'published' tracker that reports the ground truth: AUC and precision known."""
    for name in TARGETS:
        truth = read_box_file(root / name / "groundtruth_rect.txt") - [1, 1, 0, 0]
        (tmp_path / "published" / "Oracle").mkdir(parents=True, exist_ok=True)
        write_result(tmp_path / "published" / "Oracle" / f"{name}.txt", truth)
    return tmp_path / "published"


def test_cli_evaluate_logs_a_complete_mlflow_run(ray_local, tmp_path: Path):
    from mlflow import MlflowClient

    root, table = make_otb_root(tmp_path / "data")
    published = _published(tmp_path, root)
    (root / "SynC" / "groundtruth_rect.txt").write_text("1,2,3\n")  # broken target
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "evaluate", "--otb-root", str(root), "--sequence-table", str(table),
            "--sequences", "SynA,SynB,SynC,SynMissing", "--tracker", "csrt", "--out", str(out),
            "--compare-with", str(published), "--json", str(tmp_path / "report.json"),
            "--set", f"mlflow.tracking_uri={uri}", "--set", "mlflow.experiment=eval-test",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "SynMissing" in res.output and "SynC" in res.output
    report = json.loads((tmp_path / "report.json").read_text())
    own, oracle = report["trackers"]["CSRT"], report["trackers"]["Oracle"]
    assert set(own["sequences"]) == {"SynA", "SynB"} and own["fps"] > 0
    assert oracle["auc"] == pytest.approx(20 / 21) and oracle["precision"] == 1.0
    assert "1,2,3" in report["failed"]["SynC"] and report["missing"] == ["SynMissing"]

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(report["mlflow_run_id"])
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["network.fc7_dim"] == "500" and params["gaussian.gamma"] == "0.95"
    assert params["sequences"] == "SynA,SynB,SynC" and params["tracker"] == "csrt"
    assert params["weights"] == "none"
    assert metrics["auc"] == pytest.approx(own["auc"])
    assert metrics["precision"] == pytest.approx(own["precision"])
    assert metrics["fps"] == pytest.approx(own["fps"])
    assert metrics["auc/SynA"] == pytest.approx(own["sequences"]["SynA"]["auc"])
    assert metrics["attr/IV/auc"] == pytest.approx(own["sequences"]["SynA"]["auc"])  # SynA only
    assert metrics["targets_failed"] == 1 and metrics["targets_done"] == 2
    assert tags["gdt.tracker"] == "csrt" and tags["gdt.code_version"]
    assert tags["gdt.status"] == "partial" and "1,2,3" in tags["failed/SynC"]
    # the run spans the targets' real tracking time, not the milliseconds of logging it
    assert (
        run.info.start_time == report["started_ms"] and run.info.end_time == report["finished_ms"]
    )
    seqs = own["sequences"].values()
    longest_ms = max(v["frames"] / v["fps"] for v in seqs) * 1000  # targets run in parallel
    assert run.info.end_time - run.info.start_time >= longest_ms
    artifacts = {f.path for d in ("", "results/CSRT", "plots", "failures")
                 for f in client.list_artifacts(run.info.run_id, d or None)}  # fmt: skip
    assert {"results/CSRT/SynA.txt", "results/CSRT/SynB.txt", "targets.csv", "report.json",
            "plots/success_overall.png", "plots/precision_IV.png",
            "failures/SynC.txt"} <= artifacts  # fmt: skip


def test_a_rerun_updates_its_mlflow_run_a_resumed_one_reuses_it_ray_logs_kept(
    ray_local, tmp_path: Path
):
    from mlflow import MlflowClient

    root, table = make_otb_root(tmp_path / "data")
    truth = root / "SynB" / "groundtruth_rect.txt"
    good = truth.read_text()
    truth.write_text("1,2,3\n")  # SynB fails the first time
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "evaluate", "--otb-root", str(root), "--sequence-table", str(table),
        "--sequences", "SynA,SynB", "--tracker", "csrt", "--out", str(tmp_path / "run"),
        "--tracking-uri", uri, "--set", "mlflow.experiment=eval-again",
    ]  # fmt: skip
    first = CliRunner().invoke(main, args)
    # Ray's own logs (kept off the terminal) are copied beside the results
    assert (tmp_path / "run" / "ray-logs" / "gcs_server.out").is_file()
    client = MlflowClient(tracking_uri=uri)
    (run_id,) = [line.split()[-1] for line in first.output.splitlines() if "MLflow run" in line]
    partial = client.get_run(run_id)
    assert partial.data.tags["gdt.status"] == "partial" and "failed/SynB" in partial.data.tags
    truth.write_text(good)
    second = CliRunner().invoke(main, args)  # SynA resumed, SynB tracked: the same run
    third = CliRunner().invoke(main, args)  # everything resumed
    assert first.exit_code == second.exit_code == third.exit_code == 0, second.output
    assert f"MLflow run {run_id}" in second.output
    assert f"every target resumed: already logged as MLflow run {run_id}" in third.output
    experiment = client.get_experiment_by_name("eval-again")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["gdt.status"] == "complete"
    assert "failed/SynB" not in run.data.tags and run.data.metrics["targets_done"] == 2
    assert [m.step for m in client.get_metric_history(run_id, "targets_done")] == [0, 1]
    assert run.info.start_time == partial.info.start_time  # the first attempt's start
    assert run.info.end_time > partial.info.end_time


def test_evaluate_with_no_target_scored_fails_and_so_does_its_mlflow_run(ray_local, tmp_path: Path):
    from mlflow import MlflowClient

    root, table = make_otb_root(tmp_path / "data")
    for name in TARGETS:
        (root / name / "groundtruth_rect.txt").write_text("1,2,3\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = CliRunner().invoke(
        main,
        [
            "evaluate", "--otb-root", str(root), "--sequence-table", str(table),
            "--sequences", ",".join(TARGETS), "--tracker", "csrt",
            "--out", str(tmp_path / "run"), "--json", str(tmp_path / "report.json"),
            "--set", f"mlflow.tracking_uri={uri}", "--set", "mlflow.experiment=eval-none",
        ],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert f"no target was scored: {len(TARGETS)} failed" in res.output
    report = json.loads((tmp_path / "report.json").read_text())
    run = MlflowClient(tracking_uri=uri).get_run(report["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["gdt.status"] == "failed"
    assert "auc" not in run.data.metrics


def test_unreachable_mlflow_keeps_results_and_log_run_logs_them(ray_local, otb, tmp_path: Path):
    from mlflow import MlflowClient

    root, table = otb
    out = tmp_path / "run"
    dead = f"http://127.0.0.1:{_free_port()}"
    args = ["evaluate", "--otb-root", str(root), "--sequence-table", str(table),
            "--sequences", "SynA,SynC", "--tracker", "csrt", "--out", str(out),
            "--set", f"mlflow.tracking_uri={dead}"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert f"gdt-flow log-run {out}" in res.output
    report = json.loads((out / "report.json").read_text())
    assert report["mlflow_run_id"] is None and set(report["trackers"]["CSRT"]["sequences"]) == {
        "SynA",
        "SynC",
    }
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    res = CliRunner().invoke(main, ["log-run", str(out), "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    run_id = json.loads((out / "report.json").read_text())["mlflow_run_id"]
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.metrics["auc"] == pytest.approx(report["trackers"]["CSRT"]["auc"])
    assert run.data.params["sequences"] == "SynA,SynC"
    again = CliRunner().invoke(main, ["log-run", str(out), "--tracking-uri", uri])
    assert again.exit_code == 0 and "already logged" in again.output
