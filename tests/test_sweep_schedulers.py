"""Sweeps that report as they go: ASHA stops a bad trial at its first rung while a good one
runs to the end, Optuna's TPE suggests trials within the spaces' ranges, and the MLflow
children and ``compare --parent`` say which trial stopped where; bad input stops before Ray.

Trials run GDT (a shrunk network) on four generated 12-frame targets: a search radius of 0
cannot follow the moving target, 0.6 can.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gdt_core.data.synthetic_otb import write_synthetic_otb_set
from workflows.cli import main

TARGETS = ["RungA", "RungB", "RungC", "RungD"]
FAST = [
    "network.input_size=99",
    "tracker.pooled_target_size=32",
    "phase2.max_iterations=2",
    "sampling.first_frame_positives=16",
    "sampling.first_frame_negatives=32",
]


@pytest.fixture(scope="module")
def otb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rungs") / "otb"
    table = write_synthetic_otb_set(root, TARGETS, 12, seed=4, size=(128, 96))
    return root, table


def _args(otb, tmp_path: Path, name: str, *extra: str) -> list[str]:
    root, table = otb
    return [
        "sweep", "--otb-root", str(root), "--sequence-table", str(table),
        "--sequences", ",".join(TARGETS), "--tracker", "gdt", "--storage",
        str(tmp_path / "sweeps"), "--name", name, "--max-concurrent", "1",
        "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        *[a for item in FAST for a in ("--set", item)], *extra,
    ]  # fmt: skip


def _children(tmp_path: Path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("gdt-flow").experiment_id
    runs = client.search_runs([experiment])
    parent = next(r for r in runs if "sweep.params" in r.data.params)
    return client, parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId")]


@pytest.mark.ray
def test_asha_stops_the_bad_trial_at_the_first_rung_and_lets_the_good_one_finish(
    ray_local, otb, tmp_path: Path
) -> None:
    args = _args(
        otb, tmp_path, "rungs", "--param", "candidates.search_radius", "--values", "0.6,0.0",
        "--scheduler", "asha", "--grace-period", "1", "--reduction-factor", "2",
    )  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "trials: 1 finished, 1 stopped early, 0 failed, 0 unfinished" in res.output
    assert "1 trial(s) stopped early by the scheduler: 1 after 1 target" in res.output
    client, parent, children = _children(tmp_path)
    order = parent.data.params["sweep.sequences"].split(",")
    assert sorted(order) == sorted(TARGETS) and parent.data.params["sweep.order_seed"] == "0"
    by_radius = {c.data.params["candidates.search_radius"]: c for c in children}
    good, bad = by_radius["0.6"], by_radius["0.0"]
    assert good.info.status == bad.info.status == "FINISHED"
    assert "gdt.status" not in good.data.tags or good.data.tags["gdt.status"] != "stopped"
    assert bad.data.tags["gdt.status"] == "stopped" and bad.data.tags["gdt.stopped_at"] == "1"
    assert bad.info.run_name.endswith("stopped at 1/4")
    good_steps = [m.step for m in client.get_metric_history(good.info.run_id, "auc")]
    assert good_steps == [1, 2, 3, 4]  # auc at step k = k targets done, final at 4
    assert [m.step for m in client.get_metric_history(bad.info.run_id, "auc")] == [1]
    first = f"auc/{order[0]}"  # both were scored on the same first target
    assert good.data.metrics[first] > bad.data.metrics.get("auc", 0.0)
    assert parent.data.tags["best.run_id"] == good.info.run_id  # a stopped trial never wins
    assert parent.data.metrics["trials_stopped"] == 1
    shown = CliRunner().invoke(
        main, ["compare", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
               "--parent", parent.info.run_id[:12]],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "stopped@1" in shown.output and "1 after 1 target" in shown.output
    assert "--set candidates.search_radius=0.6" in shown.output


@pytest.mark.ray
def test_optuna_with_asha_suggests_within_the_ranges(ray_local, otb, tmp_path: Path) -> None:
    args = _args(
        otb, tmp_path, "tpe", "--param", "gamma", "--search", "optuna", "--num-samples", "3",
        "--scheduler", "asha", "--grace-period", "2",
    )  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "--num-samples 3 <= --startup-trials 10: Optuna's TPE draws every trial" in res.output
    _, parent, children = _children(tmp_path)
    assert len(children) == 3 and parent.data.params["sweep.search"] == "optuna"
    assert parent.data.params["sweep.startup_trials"] == "10"
    gammas = [float(c.data.params["gaussian.gamma"]) for c in children]
    assert all(0.8 <= g <= 0.995 for g in gammas) and len(set(gammas)) == 3  # uniform range
    for child in children:
        stopped = child.data.tags.get("gdt.status") == "stopped"
        assert stopped or child.data.metrics["targets_done"] == 4
        assert not stopped or child.data.tags["gdt.stopped_at"] == "2"


def test_optuna_search_is_seeded_tpe_with_the_sweeps_startup_trials() -> None:
    from optuna.samplers import TPESampler

    from workflows.sweep.tune_sweep import SweepContext, _search

    context = SweepContext(
        name="s", experiment_dir="/tmp/s", tracking_uri="sqlite:///s.db", experiment_id="1",
        parent_run_id="", metric="auc", search="optuna", num_samples=9, space=[], config={},
        targets=TARGETS, otb_root="/tmp", tracker="gdt", scheduler="asha", startup_trials=3,
    )  # fmt: skip
    search, scheduler = _search(context, max_concurrent=2, seed=5)
    sampler = search.searcher._sampler  # in the ConcurrencyLimiter of max_concurrent
    assert isinstance(sampler, TPESampler) and sampler._n_startup_trials == 3
    assert search.max_concurrent == 2 and scheduler._max_t == len(TARGETS)


def test_bad_search_scheduler_and_ranges_stop_before_ray(otb, tmp_path: Path) -> None:
    cases = [
        (["--param", "gamma", "--search", "bayes"], "'bayes' is not one of"),
        (["--param", "gamma", "--scheduler", "hyperband"], "'hyperband' is not one of"),
        (
            ["--param", "gamma", "--scheduler", "asha", "--grace-period", "9"],
            "--grace-period 9: more than the sweep's 4 target(s)",
        ),
        (
            ["--param", "gaussian.gamma", "--values", "0.8,0.9", "--search", "optuna"],
            "--search optuna: 'gaussian.gamma' has a grid but no range",
        ),
    ]
    for extra, message in cases:
        res = CliRunner().invoke(main, _args(otb, tmp_path, "bad", *extra))
        assert res.exit_code == 2, (extra, res.output)
        assert message in res.output, (extra, res.output)
        assert not (tmp_path / "sweeps").exists()  # nothing started
