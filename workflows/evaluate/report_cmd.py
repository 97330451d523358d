"""``gdt-flow report``: score result folders with a benchmark's own rules and plot them.

OTB (the default): ground truth from the toolkit's flat annotation folder (``--anno``) or a
standard OTB download (``--otb-root``), every tracker folder ``<results>/<Tracker>/<Seq>.txt``
under each ``--results`` folder, a table ranked by AUC (overall and per attribute), optionally
JSON and the OTB-style success/precision plots. ``--dataset lasot|got10k --root R``: the
benchmark's own download and result layouts and scores (:mod:`gdt_core.metrics.benchmark_report`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from workflows.options import data_options


@click.command("report")
@data_options(datasets=True)
@click.option(
    "--results",
    "results_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of tracker folders <results>/<Tracker>/<Seq>.txt (repeatable).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write scores as JSON.")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False),
    help="Write success/precision plots (overall and per attribute) here.",
)
def report(
    dataset: str,
    root: str | None,
    split: str,
    anno_dir: str | None,
    sequences: str | None,
    sequence_table: str | None,
    results_dirs: tuple[str, ...],
    json_out: str | None,
    plots_dir: str | None,
) -> None:
    """Score every tracker found with the benchmark's own evaluation (OTB's OPE by default)."""
    if dataset != "otb":
        _report_other(dataset, root, split, results_dirs, sequences, json_out, plots_dir)
        return
    sequences = sequences or "cvpr13"
    # imported here: gdt_core imports torch (via its __init__), keep `gdt-flow --help` fast
    from gdt_core.data.box_file import BoxFileError
    from gdt_core.data.otb import OTBDataError, sequence_names
    from gdt_core.data.otb import sequence_table as load_table
    from gdt_core.metrics.otb_report import (
        attribute_counts,
        find_tracker_dirs,
        format_scores,
        score_result_folders,
    )

    if (anno_dir is None) == (root is None):
        raise click.UsageError("give exactly one of --anno DIR or --otb-root DIR")
    try:
        trackers = find_tracker_dirs(results_dirs)
    except OTBDataError as exc:  # one tracker name in two --results folders: the arguments
        raise click.UsageError(str(exc)) from None
    try:
        table = load_table(sequence_table)
        infos = [table[name] for name in sequence_names(sequences, table)]
        scores, skipped = score_result_folders(trackers, infos, root, anno_dir)
    except (OTBDataError, BoxFileError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    _echo_skipped(skipped)
    if not scores:
        raise click.ClickException(
            f"no tracker has results for all {len(infos)} targets of {sequences!r} "
            f"under {', '.join(results_dirs)}"
        )
    counts = attribute_counts(infos)
    click.echo(f"OPE on {len(infos)} targets ({sequences}), {len(scores)} trackers\n")
    click.echo(format_scores(scores, counts))
    if json_out:
        trackers_json = {s.tracker: s.to_json() for s in scores}
        _write_json(json_out, {"sequences": [i.name for i in infos], "trackers": trackers_json})
    if plots_dir:
        from gdt_core.metrics.ope_plots import plot_report

        paths = plot_report(scores, plots_dir, counts)
        click.echo(f"plots: {len(paths)} PNGs in {plots_dir}")


def _report_other(
    dataset: str,
    root: str | None,
    split: str,
    results_dirs: tuple[str, ...],
    sequences: str | None,
    json_out: str | None,
    plots_dir: str | None,
) -> None:
    """``report --dataset lasot|got10k``: the ranked table of the benchmark's scores."""
    from gdt_core.data.otb import OTBDataError
    from gdt_core.metrics import benchmark_report as br
    from gdt_core.metrics import benchmarks
    from gdt_core.metrics.otb_report import find_tracker_dirs

    if root is None:
        raise click.UsageError(f"--dataset {dataset} needs --root (the benchmark's download)")
    if plots_dir:
        raise click.UsageError("--plots draws OTB's plots; leave it out for --dataset " + dataset)
    try:
        trackers = find_tracker_dirs(results_dirs, "*.txt" if dataset == "lasot" else "*/*.txt")
    except OTBDataError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        names = benchmarks.sequence_names(dataset, root, split, sequences or "all")
        scores, skipped = br.score_result_folders(dataset, trackers, root, split, names)
    except (*benchmarks.DataError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _echo_skipped(skipped)
    if not scores:
        raise click.ClickException(
            f"no tracker has results for all {len(names)} videos under {', '.join(results_dirs)}"
        )
    click.echo(f"{dataset} on {len(names)} videos, {len(scores)} trackers\n")
    click.echo(br.format_benchmark_scores(scores))
    if json_out:
        trackers_json = {s.tracker: s.to_json() for s in scores}
        _write_json(
            json_out, {"dataset": dataset, "sequences": list(names), "trackers": trackers_json}
        )


def _write_json(path: str, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=1))
    click.echo(f"\nscores: {path}")


def _echo_skipped(skipped: dict[str, list[str]]) -> None:
    for tracker, missing in skipped.items():
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        click.echo(f"skipped {tracker}: no result for {', '.join(missing[:3])}{more}", err=True)
