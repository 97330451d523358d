"""``gdt-flow sweep``: a hyper-parameter sweep on Ray Tune, logged as nested MLflow runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gdt_core.tracking.trackers import TRACKERS
from workflows.options import (
    build_config,
    config_options,
    data_options,
    tracking_uri_option,
    weights_option,
)

DEFAULT_STORAGE = "sweeps"
RANDOM_SAMPLES = 10  # --search random without --num-samples


@click.command()
@click.option(
    "--param",
    "params",
    multiple=True,
    help="A space in configs/sweeps (gamma, scales, thresholds), a YAML file, or a config key "
    "with --values; repeat for a joint space.",
)
@click.option("--values", help="Comma-separated values replacing the single swept key's grid.")
@click.option(
    "--search",
    type=click.Choice(["grid", "random", "optuna"]),
    default="grid",
    show_default=True,
    help="grid: every combination of the grids; random: --num-samples draws of the samplers; "
    "optuna: --num-samples trials suggested by Optuna's TPE within the samplers' ranges.",
)
@click.option(
    "--num-samples",
    type=click.IntRange(1),
    help=f"Random, optuna: trials (default {RANDOM_SAMPLES}); grid: passes over the grid "
    "(default 1).",
)
@click.option(
    "--scheduler",
    type=click.Choice(["none", "asha"]),
    default="none",
    show_default=True,
    help="asha: Tune's ASHA stops the trials that score low after --grace-period targets "
    "(then x --reduction-factor, ...); every trial scores the targets in one shuffled order.",
)
@click.option(
    "--grace-period",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="asha: targets a trial is scored on before it can be stopped.",
)
@click.option(
    "--reduction-factor",
    type=click.FloatRange(1.0, min_open=True),
    default=2.0,
    show_default=True,
    help="asha: the rungs' spacing (x this many targets) and the share kept at each (1/this).",
)
@click.option(
    "--startup-trials",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="optuna: trials TPE draws at random before it models the results (Optuna's "
    "n_startup_trials); below --num-samples, or TPE never models.",
)
@click.option(
    "--metric",
    type=click.Choice(["auc", "precision"]),
    default="auc",
    show_default=True,
    help="The objective (maximised): success AUC or precision@20.",
)
@data_options(sequences="cvpr13")
@click.option("--tracker", type=click.Choice(TRACKERS), default="gdt", show_default=True)
@weights_option
@click.option("--max-concurrent", type=click.IntRange(1), help="Trials running at once.")
@click.option("--trial-cpus", type=float, help="CPUs per trial (default ray.actor_num_cpus).")
@click.option("--trial-gpus", type=float, help="GPUs per trial (default ray.actor_num_gpus).")
@click.option(
    "--max-failures", type=click.IntRange(0), default=0, show_default=True, help="Tune retries."
)
@click.option("--name", help="Sweep name (default sweep-<params>-<UTC time>).")
@click.option(
    "--storage",
    default=DEFAULT_STORAGE,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Tune storage directory (shared storage on a cluster).",
)
@click.option("--resume", is_flag=True, help="Continue the sweep --name (default: the latest).")
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed trials again.")
@click.option("--address", help="Ray cluster address (default: start Ray locally).")
@tracking_uri_option
@click.option("--experiment", help="MLflow experiment (default mlflow.experiment).")
@config_options
def sweep(
    params: tuple[str, ...],
    values: str | None,
    search: str,
    num_samples: int | None,
    scheduler: str,
    grace_period: int,
    reduction_factor: float,
    startup_trials: int,
    metric: str,
    root: str | None,
    anno_dir: str | None,
    sequences: str,
    sequence_table: str | None,
    tracker: str,
    weights: str | None,
    max_concurrent: int | None,
    trial_cpus: float | None,
    trial_gpus: float | None,
    max_failures: int,
    name: str | None,
    storage: str,
    resume: bool,
    retry_failed: bool,
    address: str | None,
    experiment: str | None,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Sweep config values on Ray Tune; each trial is an evaluation logged as a child run."""
    from workflows.runs.mlflow_store import TrackingServerUnreachable
    from workflows.runs.mlflow_urls import compare_url, ui_base, where_to_look
    from workflows.runs.run_table import format_best, format_runs, search_runs, stopped_summary
    from workflows.sweep.sweep_setup import (
        SweepSetupError,
        new_experiment_dir,
        resume_context,
        start_sweep,
    )
    from workflows.sweep.tune_sweep import run_sweep

    cfg = build_config(
        overlays,
        overrides,
        **{
            "ray.address": address,
            "mlflow.experiment": experiment,
        },
    )
    storage_dir = Path(storage).resolve()
    try:
        if resume:
            context = resume_context(storage_dir, name)
            click.echo(f"resuming sweep {context.name} (MLflow parent run {context.parent_run_id})")
        else:
            if not params or not root:
                raise SweepSetupError("a new sweep needs --param and --otb-root (or use --resume)")
            context = start_sweep(
                cfg,
                new_experiment_dir(storage_dir, name, params),
                params=params,
                values=values,
                search=search,
                scheduler=scheduler,
                grace_period=grace_period,
                reduction_factor=reduction_factor,
                startup_trials=startup_trials,
                num_samples=num_samples or (1 if search == "grid" else RANDOM_SAMPLES),
                metric=metric,
                otb_root=root,
                anno_dir=anno_dir,
                sequences=sequences,
                sequence_table=sequence_table,
                tracker=tracker,
                weights=weights,
                trial_cpus=trial_cpus if trial_cpus is not None else cfg.ray.actor_num_cpus,
                trial_gpus=trial_gpus if trial_gpus is not None else cfg.ray.actor_num_gpus,
                say=click.echo,
                warn=lambda m: click.secho(f"warning: {m}", fg="yellow"),
            )
            click.echo(f"MLflow parent run {context.parent_run_id} ({context.tracking_uri})")
    except SweepSetupError as exc:
        raise click.UsageError(str(exc)) from None
    except TrackingServerUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    outcome, best = run_sweep(
        context,
        cfg,
        resume=resume,
        max_concurrent=max_concurrent,
        max_failures=max_failures,
        retry_failed=retry_failed,
    )
    runs = search_runs(context.tracking_uri, [context.experiment_id], context.parent_run_id)
    click.echo(format_runs(runs, context.metric, context.keys))
    click.echo(
        f"trials: {outcome.finished} finished, {outcome.stopped} stopped early, "
        f"{outcome.failed} failed, {outcome.unfinished} unfinished"
    )
    stopped = stopped_summary(runs)
    if stopped:
        click.echo(stopped)
    if best is not None:
        click.echo(format_best(best, context.metric))
    if not runs.empty:
        base = ui_base(context.tracking_uri)
        url = compare_url(base, context.experiment_id, list(runs["run_id"]))
        click.echo(f"the trials in the MLflow UI{where_to_look(context.tracking_uri)}:\n  {url}")
    if outcome.interrupted:
        click.secho(
            f"interrupted; continue with: gdt-flow sweep --resume --name {context.name} "
            f"--storage {storage_dir}",
            fg="yellow",
            err=True,
        )
        sys.exit(130)
    if best is None:
        raise click.ClickException(f"no trial of sweep {context.name} finished")
    if outcome.failed:
        raise click.ClickException(
            f"{outcome.failed} trial(s) of sweep {context.name} failed (the error is on each "
            "one's MLflow run; the finished ones are kept: `gdt-flow sweep --resume "
            f"--retry-failed --name {context.name}` runs the failed ones again)"
        )
