"""A real two-node Ray cluster on loopback running ``gdt-flow evaluate``, and losing a node.

Two ``ray start --block`` processes (head and worker, one CPU each, distinct custom resources,
token authentication with a private token, dashboard off, their own temp dir), each in its own
session so that teardown kills exactly their processes by id. ``gdt-flow evaluate --address``
runs six generated targets with two tracking actors (one per node, since each takes the
node's only CPU). Once the worker node's actor has finished a target and is running another,
every process of the worker node is SIGKILLed: the evaluation must still finish every target,
the interrupted one redone by the restarted actor on the head node.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gdt_core.data.synthetic_otb import write_synthetic_otb_set

pytestmark = pytest.mark.ray

BIN = Path(sys.executable).parent  # the venv's ``ray`` and ``gdt-flow`` scripts
TARGETS = [f"Node{i}" for i in range(6)]
FRAMES = 40
DEADLINE_S = 150.0  # whole-test guard against a hang; the test takes ~50-95 s here

WAIT_FOR_NODES = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + 60
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= 2 or time.monotonic() > deadline:
        break
    time.sleep(0.1)  # polling ray.nodes(): the state itself is the condition
print(json.dumps({n["NodeID"]: sorted(n["Resources"]) for n in alive}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (a ``ray start`` and everything it spawned)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
            pids.append(int(entry))
    return pids


def _proc_title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _kill_session(process: subprocess.Popen) -> None:
    """SIGKILL every process of ``process``'s session (raylet, GCS, agents, workers)."""
    for pid in _session_pids(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


class LoopbackCluster:
    """A head and one worker node started with ``ray start --block`` as separate processes."""

    def __init__(self, temp_dir: Path, log_dir: Path) -> None:
        self.temp_dir, self.log_dir = temp_dir, log_dir
        token = temp_dir / "auth_token"
        token.write_text(secrets.token_hex(32))
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_USAGE_STATS_ENABLED": "0",
            # a dead node is noticed within ~1 s instead of Ray's default ~15 s
            "RAY_health_check_initial_delay_ms": "0",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "500",
            "RAY_health_check_failure_threshold": "2",
        }
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, *args: str) -> None:
        command = [
            str(BIN / "ray"),
            "start",
            *args,
            "--num-cpus=1",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={self.temp_dir}",
            f"--resources={json.dumps({f'gdt_{name}': 1})}",
        ]
        with open(self.log_dir / f"ray-{name}.log", "w") as log:
            self.processes[name] = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self) -> subprocess.Popen:
        """Start both nodes; return a process that prints their node ids once both are up."""
        self._start("head", "--head", f"--port={self.port}", "--include-dashboard=false")
        deadline = time.monotonic() + 60
        while True:  # the head's GCS port accepts connections: the head is up
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.05)
        self._start("worker", f"--address={self.address}")
        return subprocess.Popen(
            [sys.executable, "-c", WAIT_FOR_NODES, self.address],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def node_ids(waiter: subprocess.Popen) -> dict[str, str]:
        """``{"head": node_id, "worker": node_id}`` from the process :meth:`start` returned."""
        out, err = waiter.communicate(timeout=90)
        assert waiter.returncode == 0, err[-3000:]
        nodes = json.loads(out.strip().splitlines()[-1])
        by_role = {
            role: node
            for node, res in nodes.items()
            for role in ("head", "worker")
            if f"gdt_{role}" in res
        }
        assert set(by_role) == {"head", "worker"}, f"nodes up: {nodes}"
        return by_role

    def kill(self, name: str) -> None:
        _kill_session(self.processes[name])

    def stop(self) -> None:
        for name in ("worker", "head"):
            if name in self.processes:
                _kill_session(self.processes[name])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LoopbackCluster]:
    # Ray's socket paths must stay under 107 bytes: a short temp dir, not pytest's tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="gdt-ray-", dir="/tmp"))
    loopback = LoopbackCluster(temp_dir, tmp_path)
    try:
        yield loopback
    finally:
        loopback.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _records(run_dir: Path) -> dict[str, dict]:
    """The per-target records the actors wrote so far, by file name."""
    found = {}
    for path in (run_dir / "targets").glob("*.json"):
        try:
            found[path.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now (atomic rename); read it next round
    return found


def _node_of(record: dict, nodes: dict[str, str]) -> str | None:
    return next((role for role, node in nodes.items() if node in record["worker"]), None)


def test_evaluate_on_two_nodes_survives_losing_one(tmp_path: Path, cluster: LoopbackCluster):
    start = time.monotonic()
    otb = tmp_path / "otb"
    table = write_synthetic_otb_set(
        otb, TARGETS, FRAMES, seed=3, size=(96, 72), object_size=(20, 16)
    )
    nodes = cluster.node_ids(cluster.start())  # both nodes up before the evaluation starts
    run_dir, report = tmp_path / "run", tmp_path / "report.json"
    command = [
        str(BIN / "gdt-flow"), "evaluate",
        "--address", cluster.address,
        "--otb-root", str(otb), "--sequence-table", str(table),
        "--sequences", ",".join(TARGETS), "--tracker", "csrt",
        "--max-actors", "2", "--out", str(run_dir), "--json", str(report),
        "--set", "ray.actor_num_cpus=1", "--set", "ray.max_restarts=2",
        "--set", f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
    ]  # fmt: skip
    with open(tmp_path / "evaluate.log", "w") as log:
        evaluation = subprocess.Popen(
            command, env=cluster.env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        seen: dict[str, dict] = {}  # every record observed while running, before any rewrite
        killed = False
        try:
            while evaluation.poll() is None:
                assert time.monotonic() - start < DEADLINE_S, "evaluation hangs"
                seen.update(_records(run_dir))
                worker_done = any(_node_of(r, nodes) == "worker" for r in seen.values())
                worker_pids = _session_pids(cluster.processes["worker"].pid)
                busy = any(
                    _proc_title(pid).startswith("ray::TrackingActor.run") for pid in worker_pids
                )
                if not killed and worker_done and busy:
                    cluster.kill("worker")  # mid-target: the worker node is gone
                    killed = True
                time.sleep(0.01)  # polling the cluster's processes and the run directory
        finally:
            if evaluation.poll() is None:
                evaluation.kill()
    output = (tmp_path / "evaluate.log").read_text()
    assert evaluation.returncode == 0, output[-4000:]
    assert killed, f"the worker node never ran a second target:\n{output[-4000:]}"

    final = _records(run_dir)
    by_target = {r["sequence"]: r for r in final.values()}
    assert sorted(by_target) == sorted(TARGETS)
    assert all(r["status"] == "done" for r in by_target.values()), output[-4000:]
    for name, record in by_target.items():
        result = (run_dir / record["result_file"]).read_text().splitlines()
        assert len(result) == FRAMES, f"{name}: {len(result)} result lines"
    # actors ran on both nodes; the target interrupted on the worker was redone on the head
    roles = {_node_of(r, nodes) for r in [*seen.values(), *final.values()]}
    assert roles == {"head", "worker"}
    restarted = [r for r in by_target.values() if r["actor_restarted"]]
    assert restarted and all(_node_of(r, nodes) == "head" for r in restarted)
    summary = json.loads(report.read_text())
    assert summary["mlflow_run_id"] and not summary["failed"]
    assert sorted(summary["trackers"]["CSRT"]["sequences"]) == sorted(TARGETS)
    print(f"two-node evaluation with a node loss: {time.monotonic() - start:.1f}s")
