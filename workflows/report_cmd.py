"""``gdt-flow report``: score OTB result folders with the benchmark's OPE and plot them.

Reads ground truth from the toolkit's flat annotation folder (``--anno``) or a standard OTB
download (``--otb-root``), every tracker folder ``<results>/<Tracker>/<Seq>.txt`` under each
``--results`` folder, and prints a table ranked by AUC (overall and per attribute); optionally
writes the numbers as JSON and the OTB-style success/precision plots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # gdt_core imports torch (via its __init__): keep `gdt-flow --help` fast
    from gdt_core.ope import TrackerScores
    from gdt_core.otb import SequenceInfo


def find_tracker_dirs(results_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Tracker name -> the results folder holding ``<name>/``; a name found twice is an error."""
    from gdt_core.otb_results import find_trackers

    found: dict[str, Path] = {}
    for results_dir in results_dirs:
        for name in find_trackers(results_dir):
            if name in found:
                raise click.UsageError(
                    f"tracker {name!r} is in both {found[name]} and {results_dir}; "
                    "rename one folder"
                )
            found[name] = Path(results_dir)
    return found


def score_trackers(
    trackers: dict[str, Path],
    infos: Sequence[SequenceInfo],
    otb_root: str | None,
    anno_dir: str | None,
) -> tuple[list[TrackerScores], dict[str, list[str]]]:
    """Scores of the trackers with a result for every target, ranked by AUC; and the skipped
    trackers with their missing targets."""
    from gdt_core.ope import score_tracker
    from gdt_core.otb import load_ground_truth
    from gdt_core.otb_results import read_result, result_path

    ground_truths = {
        i.name: load_ground_truth(i, otb_root=otb_root, anno_dir=anno_dir) for i in infos
    }
    attributes = {i.name: i.attributes for i in infos}
    scores, skipped = [], {}
    for tracker, results_dir in trackers.items():
        paths = {i.name: result_path(results_dir, tracker, i.name) for i in infos}
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            skipped[tracker] = missing
            continue
        results = {name: read_result(path) for name, path in paths.items()}
        scores.append(score_tracker(tracker, ground_truths, results, attributes))
    scores.sort(key=lambda s: s.overall.auc, reverse=True)
    return scores, skipped


def format_table(scores: Sequence[TrackerScores], counts: dict[str, int]) -> str:
    """The ranked table: AUC and precision@20 overall, then both per attribute."""
    from gdt_core.otb import ATTRIBUTES

    attrs = [a for a in ATTRIBUTES if a in counts]
    width = max([len("Tracker")] + [len(s.tracker) for s in scores])
    lines = [f"{'#':>2}  {'Tracker':<{width}}  {'AUC':>6}  {'P@20':>6}"]
    for rank, s in enumerate(scores, start=1):
        lines.append(
            f"{rank:>2}  {s.tracker:<{width}}  {s.overall.auc:6.3f}  "
            f"{s.overall.precision_score:6.3f}"
        )
    for title, value in (
        ("AUC per attribute", lambda c: c.auc),
        ("Precision@20 per attribute", lambda c: c.precision_score),
    ):
        heads = [f"{a}({counts[a]})" for a in attrs]
        cell = max([6] + [len(h) for h in heads])
        lines += ["", title, f"{'Tracker':<{width}}  " + "  ".join(f"{h:>{cell}}" for h in heads)]
        for s in scores:
            cells = "  ".join(f"{value(s.attributes[a]):>{cell}.3f}" for a in attrs)
            lines.append(f"{s.tracker:<{width}}  {cells}")
    return "\n".join(lines)


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
    from gdt_core.box_file import BoxFileError
    from gdt_core.otb import ATTRIBUTES, OTBDataError, sequence_names, sequence_table

    if (anno_dir is None) == (otb_root is None):
        raise click.UsageError("give exactly one of --anno DIR or --otb-root DIR")
    try:
        table = sequence_table()
        infos = [table[name] for name in sequence_names(sequences, table)]
        trackers = find_tracker_dirs(results_dirs)
        scores, skipped = score_trackers(trackers, infos, otb_root, anno_dir)
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
    counts = {a: sum(a in i.attributes for i in infos) for a in ATTRIBUTES}
    counts = {a: n for a, n in counts.items() if n}
    click.echo(f"OPE on {len(infos)} targets ({sequences}), {len(scores)} trackers\n")
    click.echo(format_table(scores, counts))
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
