"""``gdt-flow demo``: the whole workflow, end to end, on one machine in a few minutes (its
steps: :mod:`workflows.demo`)."""

from __future__ import annotations

import click

from workflows.demo import REAL_TARGETS, DemoPlan, run_demo
from workflows.options import config_options, root_option


@click.command()
@click.option(
    "--workdir",
    default="demo_work",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Everything the demo writes: data, patches, runs, MLflow store, figures.",
)
@root_option
@click.option("--sequences", help=f"With --otb-root: the targets (default {REAL_TARGETS}).")
@click.option(
    "--compare-with",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Published OTB results to draw beside GDT, e.g. ../shared/data/otb-results.",
)
@click.option("--gammas", default="0.8,0.95", show_default=True, help="γ values of the sweep.")
@click.option(
    "--det-images", default=48, show_default=True, type=click.IntRange(1), help="DET images."
)
@click.option(
    "--num-sequences",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Generated OTB sequences (without --otb-root).",
)
@click.option(
    "--frames", default=30, show_default=True, type=click.IntRange(2), help="Frames per sequence."
)
@config_options
def demo(
    workdir: str,
    root: str | None,
    sequences: str | None,
    compare_with: tuple[str, ...],
    gammas: str,
    det_images: int,
    num_sequences: int,
    frames: int,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Run the whole workflow on a local Ray + MLflow store (configs/demo.yaml sizes)."""
    plan = DemoPlan(
        workdir, root, sequences, compare_with, gammas, det_images, num_sequences, frames,
        overlays, overrides,
    )  # fmt: skip
    run_demo(plan)
