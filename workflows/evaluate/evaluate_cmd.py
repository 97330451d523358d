"""``gdt-flow evaluate`` and ``gdt-flow log-run``: OTB (LaSOT, GOT-10k) evaluation on Ray
actors, logged to MLflow.

The results on disk come first (``<run dir>/<Tracker>/<Seq>.txt``, per-target records, the
report, the table and the plots); the MLflow run is made from them afterwards, so an
unreachable tracking server loses nothing: ``gdt-flow log-run DIR`` logs the directory later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gdt_core.tracking.trackers import TRACKERS
from workflows.options import (
    build_config,
    config_options,
    data_options,
    tracking_uri_option,
    weights_option,
)

if TYPE_CHECKING:  # imported lazily below: Ray and MLflow stay out of `gdt-flow --help`
    from gdt_core.config import Config
    from workflows.evaluate.evaluation import EvaluationResult
    from workflows.evaluate.evaluation_run import EvaluationTargets


def _progress_printer(frames: dict[str, int]):
    """``on_progress`` for the terminal: ``  David: frame 240/471``."""

    def show(sequence: str, done: int) -> None:
        click.echo(f"  {sequence}: frame {done}/{frames.get(sequence, '?')}")

    return show


def _echo_record(record, done: int, total: int) -> None:
    if record.done:
        scores = record.scores or {"auc": record.auc, "precision": record.precision}
        numbers = "  ".join(f"{name} {value:.3f}" for name, value in scores.items())
        click.echo(
            f"[{done}/{total}] {record.sequence}: {numbers}  {record.fps:.1f} fps  "
            f"({record.frames} frames)" + ("  [actor restarted]" if record.actor_restarted else "")
        )
    else:
        click.secho(
            f"[{done}/{total}] {record.sequence}: FAILED {record.error}", fg="red", err=True
        )


def explain_unlogged(run_dir: Path, tracking_uri: str, exc: Exception) -> None:
    """Say that MLflow failed, that the results on disk are complete, and how to log later."""
    click.secho(
        f"warning: could not log to MLflow at {tracking_uri} ({type(exc).__name__}: "
        f"{str(exc)[:300]}).\nThe results in {run_dir} are complete; once the server is "
        f"reachable, log them with:\n  gdt-flow log-run {run_dir} --tracking-uri {tracking_uri}",
        fg="yellow",
        err=True,
    )


def log_or_explain(
    run_dir: Path, tracking_uri: str, experiment: str, earlier: str | None = None
) -> str | None:
    """Log ``run_dir`` to MLflow (updating the run ``earlier`` where an earlier attempt
    logged one); on failure say how to log it later and return None."""
    from workflows.evaluate.evaluation_mlflow import log_evaluation
    from workflows.runs.mlflow_store import reachable_experiment

    try:
        experiment_id = reachable_experiment(tracking_uri, experiment)
        return log_evaluation(run_dir, tracking_uri, experiment_id, update_run_id=earlier)
    except Exception as exc:  # noqa: BLE001 -- any MLflow failure: the disk results stand
        explain_unlogged(run_dir, tracking_uri, exc)
        return None


def evaluate_with_progress(
    cfg: Config, targets: EvaluationTargets, *, quiet: bool = False, **kwargs: Any
) -> tuple[EvaluationResult, dict[str, Any], list[float]]:
    """:func:`workflows.evaluate.evaluation_run.run_one_evaluation` with the terminal's messages and
    per-target/per-frame progress (none with ``quiet``); a setup problem is a click error."""
    from gdt_core.data.otb import sequence_table as load_table
    from workflows.evaluate.evaluation_run import EvaluationSetupError, run_one_evaluation

    frames = {}
    if targets.dataset == "otb":
        table = load_table(targets.sequence_table)
        frames = {name: info.num_frames for name, info in table.items()}
    try:
        return run_one_evaluation(
            cfg,
            targets,
            say=click.echo,
            warn=lambda m: click.secho(f"warning: {m}", fg="yellow", err=True),
            on_record=None if quiet else _echo_record,
            on_progress=None if quiet else _progress_printer(frames),
            **kwargs,
        )
    except EvaluationSetupError as exc:
        raise click.ClickException(str(exc)) from None


def evaluation_options(func):
    """Options shared by ``evaluate`` and ``ablation``: Ray, results, strictness, config."""
    options = [
        click.option("--address", help="Ray cluster address (default: start Ray locally)."),
        click.option("--max-actors", type=click.IntRange(1), help="Tracking actors at once."),
        click.option(
            "--compare-with",
            multiple=True,
            type=click.Path(exists=True, file_okay=False),
            help="Published results <DIR>/<Tracker>/<Seq>.txt to add to plots and table.",
        ),
        click.option(
            "--json",
            "json_out",
            type=click.Path(dir_okay=False),
            help="Write the scores (report schema + fps + mlflow_run_id) as JSON.",
        ),
        click.option("--strict", is_flag=True, help="Missing or failed targets are errors."),
        tracking_uri_option,
        config_options,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def prepare(
    overlays, overrides, address, max_actors, sequences, sequence_table, data=("otb", "", "")
):
    """The config, the target names and a running Ray: the common start of both commands.
    ``data`` = (data set, root, GOT-10k split): the names of LaSOT / GOT-10k targets come
    from the root (``all``) or the list; OTB's from its table."""
    from gdt_core.data.otb import OTBDataError, sequence_names
    from gdt_core.data.otb import sequence_table as load_table
    from gdt_core.metrics import benchmarks
    from workflows.ray_runtime import init_ray

    cfg = build_config(
        overlays, overrides, **{"ray.address": address, "ray.max_actors": max_actors}
    )
    dataset, root, split = data
    try:
        if dataset == "otb":
            names = sequence_names(sequences, load_table(sequence_table))
        else:
            names = benchmarks.sequence_names(dataset, root, split, sequences)
    except (OTBDataError, *benchmarks.DataError) as exc:
        raise click.UsageError(str(exc)) from None
    init_ray(cfg.ray.address)
    return cfg, names


@click.command()
@data_options(datasets=True, required=True)
@click.option("--tracker", type=click.Choice(TRACKERS), default="gdt")
@weights_option
@click.option("--label", default="", help="Results folder / legend name (default: tracker).")
@click.option("--out", "run_dir", type=click.Path(file_okay=False), help="Run directory.")
@evaluation_options
def evaluate(
    dataset: str,
    root: str | None,
    split: str,
    anno_dir: str | None,
    sequences: str,
    sequence_table: str | None,
    tracker: str,
    weights: str | None,
    label: str,
    run_dir: str | None,
    address: str | None,
    max_actors: int | None,
    compare_with: tuple[str, ...],
    json_out: str | None,
    strict: bool,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """One-pass evaluation of a tracker on OTB (LaSOT, GOT-10k) targets, one Ray actor per
    running target, scored as the data set's own toolkit scores it."""
    from workflows.evaluate.evaluation_mlflow import logged_run
    from workflows.evaluate.evaluation_run import EvaluationTargets
    from workflows.evaluate.evaluation_summary import format_table, write_summary
    from workflows.ray_runtime import keep_ray_logs
    from workflows.runs.mlflow_store import resolve_tracking_uri

    if not root:
        raise click.UsageError(f"give the {dataset} data set's folder: --root DIR")
    data = (dataset, root, split)
    cfg, names = prepare(overlays, overrides, address, max_actors, sequences, sequence_table, data)
    targets = EvaluationTargets(
        root, names, anno_dir, sequence_table, list(compare_with), dataset, split
    )
    result, summary, _ = evaluate_with_progress(
        cfg,
        targets,
        tracker=tracker,
        weights=weights,
        run_dir=Path(run_dir) if run_dir else None,
        label=label,
        strict=strict,
    )
    keep_ray_logs(result.run_dir)
    if summary["trackers"]:
        click.echo(format_table(summary))
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    earlier = logged_run(result.run_dir, uri)
    if len(result.resumed) == len(result.records) and earlier:
        run_id = earlier  # nothing new was computed: its MLflow run stands
        click.echo(f"every target resumed: already logged as MLflow run {run_id}")
    else:
        run_id = log_or_explain(result.run_dir, uri, cfg.mlflow.experiment, earlier)
    if run_id:
        summary["mlflow_run_id"] = run_id
        write_summary(result.run_dir, summary)
        click.echo(f"MLflow run {run_id}")
    if json_out:
        Path(json_out).write_text(json.dumps(summary, indent=1))
    if not result.done:
        raise click.ClickException(
            f"no target was scored: {len(result.failed)} failed (errors in {result.run_dir})"
        )
    if result.failed:
        failed = ", ".join(r.sequence for r in result.failed)
        message = f"{len(result.failed)} target(s) failed: {failed} (errors in {result.run_dir})"
        if strict:
            raise click.ClickException(message)
        click.secho(f"warning: {message}", fg="yellow", err=True)


@click.command("log-run")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--tracking-uri", help="Default: config mlflow.tracking_uri / $MLFLOW_TRACKING_URI.")
@click.option("--experiment", help="Default: the config's mlflow.experiment.")
@click.option("--force", is_flag=True, help="Log again even if already logged there.")
def log_run(run_dir: str, tracking_uri: str | None, experiment: str | None, force: bool) -> None:
    """Log an evaluation (or ablation) directory to MLflow, e.g. after the server was down."""
    from workflows.evaluate.ablation import ABLATION_JSON, log_ablation, read_ablation
    from workflows.evaluate.evaluation import read_manifest
    from workflows.evaluate.evaluation_mlflow import log_evaluation, logged_run
    from workflows.evaluate.evaluation_summary import summarize_run, write_summary
    from workflows.runs.mlflow_store import reachable_experiment, resolve_tracking_uri

    is_ablation = (Path(run_dir) / ABLATION_JSON).is_file()
    try:
        if is_ablation:
            first = read_ablation(run_dir)["variants"][0]["key"]
            manifest = read_manifest(Path(run_dir) / first)
        else:
            manifest = read_manifest(run_dir)
    except (ValueError, IndexError, KeyError) as exc:
        raise click.UsageError(
            f"{run_dir}: not an evaluation or ablation directory ({exc})"
        ) from None
    uri = resolve_tracking_uri(tracking_uri or manifest["config"]["mlflow"]["tracking_uri"])
    name = experiment or manifest["config"]["mlflow"]["experiment"]
    previous = None
    if is_ablation and read_ablation(run_dir).get("tracking_uri") == uri:
        previous = read_ablation(run_dir).get("mlflow_run_id")
    if not is_ablation:
        previous = logged_run(run_dir, uri)
    if previous and not force:
        click.echo(f"{run_dir} is already logged as MLflow run {previous}; --force logs it again")
        return
    try:
        experiment_id = reachable_experiment(uri, name)
        if is_ablation:
            run_id = log_ablation(run_dir, uri, experiment_id)
        else:
            summary = summarize_run(run_dir)
            run_id = log_evaluation(run_dir, uri, experiment_id)
            summary["mlflow_run_id"] = run_id
            write_summary(run_dir, summary)
    except Exception as exc:  # noqa: BLE001 -- say what failed, keep the directory as it is
        raise click.ClickException(f"could not log to {uri}: {exc}") from None
    click.echo(f"logged {run_dir} as MLflow run {run_id} ({uri})")
