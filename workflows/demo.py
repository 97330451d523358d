"""The demo's steps (``gdt-flow demo``): the whole workflow, end to end, on one machine.

A local Ray instance and a local MLflow store (``sqlite:///<workdir>/mlflow.db``); generated
ImageNet-DET-format images and OTB-format sequences (or real OTB sequences under a root);
then the very commands a user runs, each printed before it runs: ``build-patches``,
``pretrain`` (phase 1, briefly), ``evaluate`` (a CSRT reference, then GDT with the
pretrained model, one tracking actor per running target), ``sweep`` over γ, and ``compare``.
Sizes come from ``configs/demo.yaml`` (a shrunk network and sample counts: a demonstration
of the workflow, not of the paper's accuracy). It ends with the runs' table, two pictures (a
success plot and a tracking frame) and the command that opens the MLflow UI.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from gdt_core.config import CONFIG_DIR
from workflows.options import build_config

DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
REAL_TARGETS = "Football1,Skiing"  # two short OTB-50 targets (74 and 81 frames)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when below it (shorter commands)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Steps:
    """Numbered step headers with the elapsed time, and commands run in this process."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def elapsed(self) -> str:
        minutes, seconds = divmod(int(time.monotonic() - self.start), 60)
        return f"{minutes}m{seconds:02d}s"

    def header(self, title: str) -> None:
        self.done += 1
        line = f"\n[{self.done}/{self.total}] {title}  ({self.elapsed()})"
        click.secho(line, fg="cyan", bold=True)

    @staticmethod
    def command(args: list[str]) -> None:
        """Run ``gdt-flow ARGS`` here (same Ray instance, same store), printing it first,
        through the command group this one was invoked from (no import of the CLI)."""
        root = click.get_current_context().find_root().command
        click.secho(f"$ gdt-flow {shlex.join(args)}", bold=True)
        root.main(args=args, prog_name="gdt-flow", standalone_mode=False)


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs on: its folder, the data (generated, or OTB targets under
    ``root``), the sweep's γ values and the config layers."""

    workdir: str
    root: str | None
    sequences: str | None
    compare_with: tuple[str, ...]
    gammas: str
    det_images: int
    num_sequences: int
    frames: int
    overlays: tuple[str, ...]
    overrides: tuple[str, ...]


def run_demo(plan: DemoPlan) -> None:
    """Run the eight steps, each command through the click group the demo was invoked from."""
    from mlflow import MlflowClient

    from gdt_core.data.synthetic_det import generate_det
    from gdt_core.data.synthetic_otb import write_synthetic_otb_set
    from workflows.pretrain.pretrain_job import MODEL_ALIAS
    from workflows.ray_runtime import init_ray
    from workflows.runs.mlflow_urls import runs_url, ui_base

    work = Path(plan.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # every command and Ray worker below
    os.environ.pop("RAY_ADDRESS", None)  # the demo always runs on a local Ray instance
    overlays = (_shown(DEMO_CONFIG), *plan.overlays)
    cfg = build_config(overlays, plan.overrides)
    config_args = [a for o in overlays for a in ("--config", o)]
    config_args += [a for s in plan.overrides for a in ("--set", s)]
    steps = _Steps(total=8)

    steps.header("data: generated ImageNet-DET-format images and OTB-format sequences")
    det = work / "det"
    if not (det / "ImageSets").is_dir():
        generate_det(det, plan.det_images, seed=cfg.seed, layout="ilsvrc")
    click.echo(f"ImageNet DET layout: {plan.det_images} images with VOC XML boxes in {_shown(det)}")
    table: Path | None = None
    if plan.root:
        otb = Path(plan.root).resolve()
        names = (plan.sequences or REAL_TARGETS).split(",")
    else:
        otb = work / "otb"
        names = [f"Demo{chr(ord('A') + i)}" for i in range(plan.num_sequences)]
        table = write_synthetic_otb_set(otb, names, plan.frames, seed=cfg.seed)
        click.echo(f"OTB layout: {len(names)} sequences of {plan.frames} frames in {_shown(otb)}")
    data_args = ["--otb-root", _shown(otb), "--sequences", ",".join(names)]
    data_args += ["--sequence-table", _shown(table)] if table else []

    steps.header("Ray: a local instance (dashboard off)")
    init_ray(None)
    import ray

    click.echo(f"Ray resources: {ray.cluster_resources()}")
    click.echo(f"the commands below log to: export MLFLOW_TRACKING_URI={tracking_uri}")

    steps.header("objectness patches from the DET images (one Ray task per shard)")
    patches, runs = _shown(work / "patches"), work / "runs"
    steps.command(["build-patches", "--det-root", _shown(det), "--out", patches, *config_args])

    steps.header("phase-1 pretraining on Ray Train, logged and registered in MLflow")
    storage = _shown(work / "pretrain")
    steps.command(["pretrain", "--patches", patches, "--storage", storage, *config_args])
    weights = ["--weights", f"models:/{cfg.mlflow.registered_model}@{MODEL_ALIAS}"]

    steps.header("evaluation of a reference tracker (OpenCV CSRT), one actor per target")
    csrt = ["--tracker", "csrt", "--out", _shown(runs / "csrt")]
    steps.command(["evaluate", *data_args, *csrt, *config_args])

    steps.header("evaluation of GDT with the pretrained model")
    gdt = [*weights, "--out", _shown(runs / "gdt")]
    for folder in (runs / "csrt", *map(Path, plan.compare_with)):
        gdt += ["--compare-with", _shown(folder.resolve())]
    steps.command(["evaluate", *data_args, *gdt, *config_args])

    steps.header(f"γ sweep on Ray Tune ({plan.gammas}), one nested MLflow run per trial")
    sweep = ["--param", "gamma", "--values", plan.gammas, *weights]
    sweep += ["--storage", _shown(work / "sweeps")]
    steps.command(["sweep", *sweep, *data_args, *config_args])

    steps.header("all runs of the experiment, best first")
    figures = _save_figures(work, runs / "gdt", runs / "csrt", otb, names[0], table)
    steps.command(["compare", "--tracking-uri", tracking_uri])
    click.echo(f"\nfigures: {', '.join(_shown(f) for f in figures)}")
    click.secho(f"demo finished in {steps.elapsed()}. Open the MLflow UI with:", bold=True)
    click.echo(f"  {_installed_command()} ui --tracking-uri {tracking_uri}")
    click.echo("  (it listens on 127.0.0.1 only) and browse the experiment's runs table:")
    found = MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name(cfg.mlflow.experiment)
    click.echo(f"  {runs_url(ui_base(tracking_uri), found.experiment_id)}")


def _installed_command() -> str:
    """How to run ``gdt-flow`` from a fresh shell: the bare name where it is on ``PATH``,
    else the script's full path in the environment it is installed in (``.venv/bin``)."""
    script = Path(sys.executable).parent / "gdt-flow"
    found = shutil.which("gdt-flow")
    return "gdt-flow" if found and Path(found).resolve() == script.resolve() else str(script)


def _save_figures(
    work: Path, gdt_run: Path, csrt_run: Path, otb: Path, target: str, table: Path | None
) -> list[Path]:
    """The GDT run's overall success plot, and a frame of ``target`` with the ground truth,
    GDT's and CSRT's boxes, under ``<work>/figures``."""
    from gdt_core.data.otb import load_sequence, sequence_table
    from gdt_core.metrics.otb_results import read_result, result_path
    from gdt_core.tracking.frame_view import save_tracking_frame
    from workflows.evaluate.evaluation_summary import PLOTS_DIR

    figures = work / "figures"
    figures.mkdir(exist_ok=True)
    success = figures / "success_plot.png"
    shutil.copyfile(gdt_run / PLOTS_DIR / "success_overall.png", success)
    sequence = load_sequence(otb, target, table=sequence_table(table))
    results = {
        label: read_result(result_path(run, label, target))
        for label, run in (("GDT", gdt_run), ("CSRT", csrt_run))
    }
    width = sequence.frame(0).shape[1]
    frame = save_tracking_frame(
        sequence,
        results,
        len(sequence) * 2 // 3,
        figures / "tracking_frame.jpg",
        scale=max(1, round(640 / width)),
    )
    return [success, frame]
