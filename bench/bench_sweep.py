"""Grid search against Optuna's TPE with ASHA's early stopping, with the same trial budget.

    python -m bench.bench_sweep [--param gamma-scale] [--targets all|A,B] [--max-concurrent 2]
                                [--asha 2:2,1:3] [--startup-trials 3]
                                [--grid FILE] [--json FILE] [--work DIR]

Runs ``gdt-flow sweep`` commands over the same space (default
``configs/sweeps/gamma-scale.yaml``: γ x the pyramid's scale step, 3 x 3) on ``--targets``
(default every target present in ``--otb-root``, ``../shared/data/otb``), GDT with the
ImageNet weights, one after the other in this machine's local Ray: the whole grid
(``--search grid``), then, for each ``GRACE:FACTOR`` of ``--asha``, as many trials suggested
by Optuna's TPE and stopped early by ASHA (``--search optuna --scheduler asha
--grace-period GRACE --reduction-factor FACTOR --startup-trials N``: TPE models the
results after N random trials). Prints, per sweep: trials finished and
stopped, target-frames tracked (each trial's scored targets' frames, from its evaluation
folder), wall time, and the best configuration with its AUC over all targets; then each
Optuna+ASHA sweep's ratios of frames and of wall time to the grid's, measured in the same
run (``--grid FILE``: the grid's row from an earlier ``--json``, for the grid is
deterministic: only its wall time is then from another run). ``--json`` writes it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_quality import DEFAULT_OTB, default_weights
from bench.bench_tracker import target_names


def _sweep(
    args: argparse.Namespace, targets: list[str], work: Path, name: str, extra: list[str]
) -> dict:
    """One sweep through the CLI; what it tracked and found."""
    import mlflow

    uri = f"sqlite:///{work / 'mlflow.db'}"
    command = [
        str(Path(sys.executable).parent / "gdt-flow"), "sweep", "--param", args.param,
        "--otb-root", str(args.otb_root), "--sequences", ",".join(targets),
        "--storage", str(work / "sweeps"), "--name", name, "--tracking-uri", uri,
        "--max-concurrent", str(args.max_concurrent), "--weights", str(args.weights), *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    tracked = sum(  # each scored target's frames, over the trials
        json.loads(record.read_text()).get("frames", 0)
        for record in (work / "sweeps" / name / "evaluations").glob("*/targets/*.json")
    )
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("gdt-flow").experiment_id
    runs = client.search_runs([experiment], filter_string=f"tags.`gdt.sweep` = '{name}'")
    parent = next(r for r in runs if "sweep.params" in r.data.params)
    children = [r for r in runs if r.info.run_id != parent.info.run_id]
    stopped = [c for c in children if c.data.tags.get("gdt.status") == "stopped"]
    keys = parent.data.params["sweep.params"].split(",")
    best = parent.data.tags.get("best.run_id")
    return {
        "targets": targets,
        "trials": len(children),
        "stopped": len(stopped),
        "stopped_at": sorted(int(c.data.tags["gdt.stopped_at"]) for c in stopped),
        "target_frames": tracked,
        "wall_s": wall,
        "best_auc": parent.data.metrics.get("best_auc"),
        "best_config": {k: parent.data.tags.get(f"best.{k}") for k in keys},
        "best_run": best,
        "trial_aucs": sorted(
            (round(c.data.metrics.get("auc", float("nan")), 4), c.info.run_name) for c in children
        ),
    }


def _asha_settings(text: str) -> list[tuple[int, float]]:
    """``2:2,1:3`` -> [(2, 2.0), (1, 3.0)]: ASHA's grace periods and reduction factors."""
    try:
        pairs = [item.split(":") for item in text.split(",")]
        return [(int(grace), float(factor)) for grace, factor in pairs]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected GRACE:FACTOR[,...]") from error


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--param", default="gamma-scale")
    ap.add_argument("--otb-root", type=Path, default=DEFAULT_OTB)
    ap.add_argument("--targets", default="all", help="'all' (present in --otb-root) or A,B")
    ap.add_argument("--weights", default=None, help="GDT's weights (default: ImageNet)")
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.add_argument(
        "--asha", default="2:2", type=_asha_settings,
        help="ASHA settings to compare with the grid, GRACE:FACTOR[,GRACE:FACTOR...]",
    )  # fmt: skip
    ap.add_argument(
        "--startup-trials", type=int, default=3,
        help="Optuna's random trials before TPE models (default a third of the grid's 9)",
    )  # fmt: skip
    ap.add_argument(
        "--grid", type=Path,
        help="the grid's row from an earlier --json (deterministic) instead of sweeping it again",
    )  # fmt: skip
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--work", help="keep the sweeps' folders and MLflow store here (default: temp)")
    args = ap.parse_args()
    args.weights = args.weights or default_weights()
    targets = target_names(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        if args.grid:
            grid = json.loads(args.grid.read_text())["grid"]
            if grid.setdefault("targets", targets) != targets:
                raise SystemExit(f"{args.grid}: its grid ran on {grid['targets']}, not {targets}")
        else:
            grid = _sweep(args, targets, work, "grid", ["--search", "grid"])
        sweeps = {"grid": grid}
        for grace, factor in args.asha:
            options = [
                "--search", "optuna", "--num-samples", str(grid["trials"]), "--scheduler", "asha",
                "--grace-period", str(grace), "--reduction-factor", str(factor),
                "--startup-trials", str(args.startup_trials),
            ]  # fmt: skip
            name = f"optuna-asha-g{grace}-r{factor:g}-s{args.startup_trials}"
            sweeps[name] = _sweep(args, targets, work, name, options)
            sweeps[name].update(grace_period=grace, reduction_factor=factor)
    print(
        f"space {args.param}, targets {','.join(targets)}, weights "
        f"{args.weights}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        f"{'sweep':<22}{'trials':>7}{'stopped':>8}{'target-frames':>14}{'wall min':>9}"
        f"{'best AUC':>9}  best configuration"
    )
    for name, r in sweeps.items():
        print(
            f"{name:<22}{r['trials']:>7}{r['stopped']:>8}{r['target_frames']:>14}"
            f"{r['wall_s'] / 60:>9.1f}{r['best_auc']:>9.3f}  {r['best_config']}"
        )
    for name, r in sweeps.items():
        if name != "grid":
            print(
                f"{name} / grid: frames {r['target_frames'] / grid['target_frames']:.2f}, "
                f"wall {r['wall_s'] / grid['wall_s']:.2f}, "
                f"best AUC {r['best_auc'] - grid['best_auc']:+.3f}"
            )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(sweeps, indent=1))


if __name__ == "__main__":
    main()
