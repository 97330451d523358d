"""``gdt-flow trax`` (a tracker served to the VOT toolkit over TraX) and ``gdt-flow
vot-workspace`` (an offline VOT workspace of OTB targets with GDT and CSRT registered)."""

from __future__ import annotations

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

VOT_INSTALL = "pip install -e '.[vot]' && pip install --no-deps vot-toolkit==0.9.0 (make install)"


@click.command("trax")
@click.option("--tracker", type=click.Choice(TRACKERS), default="gdt")
@weights_option
@tracking_uri_option
@config_options
def trax_command(
    tracker: str, weights: str | None, overlays: tuple[str, ...], overrides: tuple[str, ...]
) -> None:
    """Serve a tracker to the VOT toolkit over TraX on stdin/stdout (rectangles, image paths).

    Started by the toolkit from a trackers.ini entry (`protocol = trax`, `command = gdt-flow
    trax --tracker gdt`); not for a terminal."""
    try:
        import trax  # noqa: F401 -- the vot-trax package
    except ImportError:
        raise click.ClickException(f"the TraX server needs vot-trax: {VOT_INSTALL}") from None
    from gdt_core.network.network import WeightsError
    from gdt_core.tracking.trackers import make_tracker
    from workflows.pretrain.weights import gdt_weights, resolve_weights
    from workflows.vot.trax_server import serve

    cfg = build_config(overlays, overrides)
    try:
        local = resolve_weights(gdt_weights(weights, tracker), cfg.mlflow.tracking_uri)
    except (WeightsError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    serve(lambda: make_tracker(tracker, cfg, local), tracker)


@click.command("vot-workspace")
@data_options(required=True, anno=False)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The workspace.")
@click.option(
    "--max-frames",
    type=click.IntRange(2),
    help="Only each target's first N frames (a quick check of the set-up).",
)
@weights_option
@click.option(
    "--timeout", default=120, show_default=True, help="Seconds the toolkit waits for a reply."
)
@config_options
def vot_workspace(
    root: str | None,
    sequences: str,
    sequence_table: str | None,
    out: str,
    max_frames: int | None,
    weights: str | None,
    timeout: int,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Write a VOT-toolkit workspace of OTB targets (local sequences, nothing to download)
    with GDT and CSRT registered; then `vot evaluate --workspace OUT gdt csrt` and `vot
    analysis --workspace OUT`."""
    from gdt_core.data.otb import OTBDataError, load_sequence, sequence_names
    from gdt_core.data.otb import sequence_table as load_table
    from workflows.vot.vot_workspace import write_workspace

    build_config(overlays, overrides)  # a bad --set is an error now, not in the toolkit's log
    if not root:
        raise click.UsageError("give the OTB download: --otb-root DIR")
    table = load_table(sequence_table)
    try:
        seqs = [load_sequence(root, n, table=table) for n in sequence_names(sequences, table)]
    except OTBDataError as exc:
        raise click.ClickException(str(exc)) from None
    gdt = ["--weights", weights] if weights else []
    gdt += [a for path in overlays for a in ("--config", str(Path(path).resolve()))]
    gdt += [a for value in overrides for a in ("--set", value)]
    workspace = write_workspace(Path(out), seqs, {"gdt": gdt, "csrt": []}, max_frames, timeout)
    click.echo(f"VOT workspace with {len(seqs)} sequences: {workspace}")
    click.echo(f"  vot evaluate --workspace {workspace} gdt csrt")
    click.echo(f"  vot analysis --workspace {workspace} --name otb")
