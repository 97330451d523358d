"""``gdt-flow report``: score OTB result folders with the benchmark's OPE and plot them.

Reads ground truth from the toolkit's flat annotation folder (``--anno``) or a standard OTB
download (``--otb-root``), every tracker folder ``<results>/<Tracker>/<Seq>.txt`` under each
``--results`` folder, and prints a table ranked by AUC (overall and per attribute); optionally
writes the numbers as JSON and the OTB-style success/precision plots.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("report")
@click.option(
    "--anno",
    "anno_dir",
    type=click.Path(exists=True, file_okay=False),
    help="The OTB toolkit's flat annotation folder (<anno>/<Seq>.txt).",
)
@click.option(
    "--otb-root",
    type=click.Path(exists=True, file_okay=False),
    help="A standard OTB download (<root>/<Seq>/groundtruth_rect.txt) for the ground truth.",
)
@click.option(
    "--results",
    "results_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of tracker folders <results>/<Tracker>/<Seq>.txt (repeatable).",
)
@click.option(
    "--sequences",
    default="cvpr13",
    show_default=True,
    help="cvpr13 (the paper's 51 targets), tb50, tb100, or comma-separated target names.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write scores as JSON.")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False),
    help="Write success/precision plots (overall and per attribute) here.",
)
def report(
    anno_dir: str | None,
    otb_root: str | None,
    results_dirs: tuple[str, ...],
    sequences: str,
    json_out: str | None,
    plots_dir: str | None,
) -> None:
    """Score every tracker found with the OTB benchmark's one-pass evaluation."""
    # imported here: gdt_core imports torch (via its __init__), keep `gdt-flow --help` fast
    from gdt_core.box_file import BoxFileError
    from gdt_core.otb import OTBDataError, sequence_names, sequence_table
    from gdt_core.otb_report import (
        attribute_counts,
        find_tracker_dirs,
        format_scores,
        score_result_folders,
    )

    if (anno_dir is None) == (otb_root is None):
        raise click.UsageError("give exactly one of --anno DIR or --otb-root DIR")
    try:
        trackers = find_tracker_dirs(results_dirs)
    except OTBDataError as exc:  # one tracker name in two --results folders: the arguments
        raise click.UsageError(str(exc)) from None
    try:
        table = sequence_table()
        infos = [table[name] for name in sequence_names(sequences, table)]
        scores, skipped = score_result_folders(trackers, infos, otb_root, anno_dir)
    except (OTBDataError, BoxFileError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for tracker, missing in skipped.items():
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        click.echo(f"skipped {tracker}: no result for {', '.join(missing[:3])}{more}", err=True)
    if not scores:
        raise click.ClickException(
            f"no tracker has results for all {len(infos)} targets of {sequences!r} "
            f"under {', '.join(results_dirs)}"
        )
    counts = attribute_counts(infos)
    click.echo(f"OPE on {len(infos)} targets ({sequences}), {len(scores)} trackers\n")
    click.echo(format_scores(scores, counts))
    if json_out:
        payload = {
            "sequences": [i.name for i in infos],
            "trackers": {s.tracker: s.to_json() for s in scores},
        }
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(payload, indent=1))
        click.echo(f"\nscores: {json_out}")
    if plots_dir:
        from gdt_core.ope_plots import plot_report

        paths = plot_report(scores, plots_dir, counts)
        click.echo(f"plots: {len(paths)} PNGs in {plots_dir}")
