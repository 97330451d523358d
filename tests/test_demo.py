"""``gdt-flow demo`` end to end, as a user runs it (a subprocess), at an even smaller size.

Its fixed costs (starting Ray, Ray Train and Ray Tune, importing MLflow, exporting the model)
make it the longest test (run twice, as a user runs ``make demo`` again); it is what keeps
``make demo`` true at every commit, so it runs in the default suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray]

GDT_FLOW = Path(sys.executable).parent / "gdt-flow"
TINY = [
    "--det-images", "8", "--num-sequences", "2", "--frames", "6", "--gammas", "0.95",
    "--set", "phase1.num_patches=64", "--set", "phase1.iterations=2",
    "--set", "phase1.batch_size=16", "--set", "phase1.log_every=1",
    "--set", "phase1.checkpoint_every=2", "--set", "ray.patch_shards=2",
]  # fmt: skip


def test_demo_runs_the_whole_workflow(tmp_path: Path) -> None:
    import mlflow

    start = time.monotonic()
    workdir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}

    def demo() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(GDT_FLOW), "demo", "--workdir", str(workdir), *TINY],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = demo()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    # Ray's own chatter stays in its logs (gdt-flow --verbose shows it); our progress shows
    for noise in (
        "PlacementGroupCleaner",
        "core_worker.cc",
        "Token authentication",
        "Trial status",
    ):
        assert noise not in output, output[-5000:]
    assert "trial " in done.stdout and "gaussian.gamma" in done.stdout  # a line per trial
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    # a fresh shell has no venv on PATH: then the closing line names the installed script
    on_path = shutil.which("gdt-flow", path=env.get("PATH"))
    command = "gdt-flow" if on_path and Path(on_path).resolve() == GDT_FLOW.resolve() else GDT_FLOW
    assert f"  {command} ui --tracking-uri {uri}" in done.stdout
    experiment_id = mlflow.MlflowClient(uri).get_experiment_by_name("gdt-flow").experiment_id
    landing = (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    )
    assert done.stdout.splitlines()[-1].strip() == landing

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("gdt-flow")
    runs = client.search_runs([experiment.experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert {"pretrain", "CSRT", "GDT"} <= set(by_name), sorted(by_name)
    assert all(r.info.status == "FINISHED" for r in runs)
    parents = [r for r in runs if r.info.run_name.startswith("sweep-gamma")]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == 1
    assert children[0].data.params["gaussian.gamma"] == "0.95"
    for name in ("CSRT", "GDT"):
        assert set(by_name[name].data.metrics) >= {"auc", "precision", "auc/DemoA", "auc/DemoB"}
    assert by_name["GDT"].data.params["weights"] == "models:/gdt-objectness@latest-pretrain"
    assert (
        str(client.get_model_version_by_alias("gdt-objectness", "latest-pretrain").version) == "1"
    )
    # everything, artifacts included, stays under the work directory
    artifacts = Path(by_name["GDT"].info.artifact_uri.removeprefix("file://"))
    assert workdir in artifacts.parents and any(artifacts.rglob("*.png"))
    for figure in ("success_plot.png", "tracking_frame.jpg"):
        assert (workdir / "figures" / figure).stat().st_size > 1000
    print(f"gdt-flow demo (tiny): {time.monotonic() - start:.1f}s")

    # `make demo` again: the same seed gives the same numbers, and the two evaluations,
    # resumed, keep their MLflow runs (only pretrain and the sweep are new units of work)
    again = demo()
    assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]
    assert again.stdout.count("every target resumed: already logged as MLflow run") == 2
    runs = client.search_runs([experiment.experiment_id])
    named = [r.info.run_name for r in runs]
    assert named.count("CSRT") == named.count("GDT") == 1, named
    losses = [
        [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "loss")]
        for r in runs
        if r.info.run_name == "pretrain"
    ]
    assert len(losses) == 2 and losses[0] and losses[0] == losses[1]
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(trials) == 2 and trials[0].data.metrics["auc"] == trials[1].data.metrics["auc"]
