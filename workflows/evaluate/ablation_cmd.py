"""``gdt-flow ablation``: Table 1's eight variants, each an evaluation, one MLflow parent run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workflows.evaluate.evaluate_cmd import evaluation_options, explain_unlogged, prepare
from workflows.options import data_options

DEFAULT_OUT = Path("runs") / "ablation"


@click.command()
@click.option(
    "--objectness-weights",
    help="Phase-1 (obj-general) checkpoint: a file, runs:/... or models:/... "
    "(default: random initialisation).",
)
@click.option(
    "--pretrained-weights",
    help="ImageNet pre-trained AlexNet (torchvision state dict) for the no obj-general and "
    "pre-trained variants (default: random initialisation).",
)
@click.option("--variants", help="Comma-separated subset of variant keys (default: all eight).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=str(DEFAULT_OUT),
    show_default=True,
    help="One evaluation directory per variant; re-runs resume.",
)
@data_options(required=True)
@evaluation_options
def ablation(
    objectness_weights: str | None,
    pretrained_weights: str | None,
    variants: str | None,
    out_dir: str,
    root: str | None,
    anno_dir: str | None,
    sequences: str,
    sequence_table: str | None,
    address: str | None,
    max_actors: int | None,
    compare_with: tuple[str, ...],
    json_out: str | None,
    strict: bool,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """The ablation study of section 4.1 (Table 1) on OTB targets, printed beside the paper."""
    from workflows.evaluate.ablation import choose_variants, format_table, run_ablation
    from workflows.evaluate.evaluation_run import EvaluationSetupError, EvaluationTargets
    from workflows.pretrain.weights import gdt_weights
    from workflows.ray_runtime import keep_ray_logs
    from workflows.runs.mlflow_store import resolve_tracking_uri

    if not root:
        raise click.UsageError("give the OTB download: --otb-root DIR")
    try:
        chosen = choose_variants(variants)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    cfg, names = prepare(overlays, overrides, address, max_actors, sequences, sequence_table)
    given = {"objectness": objectness_weights, "pretrained": pretrained_weights}
    flags = {"objectness": "--objectness-weights", "pretrained": "--pretrained-weights"}
    for kind in sorted({v.weights for v in chosen}):
        if not given[kind]:
            click.secho(
                f"warning: no {flags[kind]}: the variants that need {kind} weights run on the "
                "cached ImageNet weights (gdt-flow weights fetch) or, without them, a random "
                "network; their numbers are not Table 1's",
                fg="yellow",
                err=True,
            )
    sources = {kind: gdt_weights(spec) for kind, spec in given.items()}
    out = Path(out_dir)
    targets = EvaluationTargets(root, names, anno_dir, sequence_table, list(compare_with))
    try:
        rows = run_ablation(
            cfg,
            chosen,
            targets,
            sources,
            out,
            strict=strict,
            say=click.echo,
            warn=lambda m: click.secho(f"warning: {m}", fg="yellow", err=True),
        )
    except EvaluationSetupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        keep_ray_logs(out)
    click.echo(format_table(rows))
    parent = log_ablation_or_explain(out, resolve_tracking_uri(cfg.mlflow.tracking_uri), cfg)
    if parent:
        click.echo(f"MLflow parent run {parent}")
    if json_out:
        from workflows.evaluate.ablation import read_ablation

        Path(json_out).write_text(json.dumps(read_ablation(out), indent=1))
    if all(row["success"] is None for row in rows):
        raise click.ClickException(f"no variant scored a target (results in {out})")
    failed = [row["key"] for row in rows if row["failed"]]
    if failed and strict:
        raise click.ClickException(f"variants with failed targets: {', '.join(failed)}")


def log_ablation_or_explain(out: Path, tracking_uri: str, cfg) -> str | None:
    """Log the parent and child runs; on failure say how to log them later."""
    from workflows.evaluate.ablation import log_ablation
    from workflows.runs.mlflow_store import reachable_experiment

    try:
        experiment_id = reachable_experiment(tracking_uri, cfg.mlflow.experiment)
        return log_ablation(out, tracking_uri, experiment_id)
    except Exception as exc:  # noqa: BLE001 -- the results on disk stand
        explain_unlogged(out, tracking_uri, exc)
        return None
