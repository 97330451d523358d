"""``gdt-flow track``: one tracker on one sequence, OPE-style (issue 3's CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gdt_core.tracking.trackers import TRACKERS
from workflows.options import build_config, config_options, tracking_uri_option, weights_option


def _load(sequence: str, otb_root: str | None):
    from gdt_core.data.otb import OTBDataError, load_sequence, load_sequence_dir

    try:
        if Path(sequence).is_dir():
            return load_sequence_dir(sequence)
        if otb_root is None:
            raise click.UsageError(f"'{sequence}' is not a folder: give --otb-root to look it up")
        return load_sequence(otb_root, sequence)
    except OTBDataError as exc:
        raise click.ClickException(str(exc)) from None


def _first_box_error(seq, sequence: str, otb_root: str | None, exc: ValueError) -> str:
    """The tracker's refusal of the first box, named by the ground-truth file and line and
    the box as written there (1-based)."""
    from gdt_core.boxes import to_otb_file

    info = seq.info
    folder = Path(sequence) if Path(sequence).is_dir() else Path(otb_root) / info.img_dir
    written = ",".join(f"{v:g}" for v in to_otb_file(seq.ground_truth[0])[0])
    return (
        f"{folder / info.gt_file}:{info.gt_slice.start + 1}: the first box (x,y,w,h = "
        f"{written}) cannot start tracking: {exc}"
    )


VIDEO_CODECS = ("avc1", "mp4v")  # H.264 (browsers play it) where OpenCV's FFmpeg has an
# encoder; else MPEG-4 part 2 (desktop players; pip's opencv wheels ship no H.264 encoder)
NO_H264 = "MPEG-4 part 2: this OpenCV has no H.264 encoder; desktop players, not browsers"


def _open_writer(path: Path, size: tuple[int, int]):
    """The first codec of :data:`VIDEO_CODECS` OpenCV can open, and its name. FFmpeg's
    complaints about a missing encoder go to the C stderr: silenced while probing."""
    import os

    import cv2

    for codec in VIDEO_CODECS:
        saved = os.dup(2)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25, size)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        if writer.isOpened():
            return writer, codec
        writer.release()
    raise click.ClickException(f"{path}: cannot open a video writer ({', '.join(VIDEO_CODECS)})")


def _write_video(path: Path, seq, boxes, scores, tracker: str) -> str:
    """Overlay video (:func:`gdt_core.tracking.frame_view.draw_boxes`): ground truth and the
    tracker's box with a legend naming them, the frame number and the tracker's score S
    (eq. 4 for GDT) as caption; returns the codec used."""
    import numpy as np

    from gdt_core.tracking.frame_view import GROUND_TRUTH, draw_boxes

    first = seq.frame(0)
    h, w = first.shape[:2]
    writer, codec = _open_writer(path, (w, h))
    try:
        for i in range(len(seq)):
            score = f", score S = {scores[i]:.1f}" if np.isfinite(scores[i]) else ""
            caption = f"frame {seq.frame_number(i)}{score}"
            shown = {GROUND_TRUTH: seq.ground_truth[i], tracker: boxes[i]}
            writer.write(draw_boxes(seq.frame(i), shown, caption=caption))
    finally:
        writer.release()
    return codec


@click.command("track")
@click.option(
    "--sequence",
    required=True,
    help="An OTB folder (img/ + groundtruth_rect.txt) "
    "or a target name of the sequence table (with --otb-root).",
)
@click.option(
    "--otb-root",
    type=click.Path(exists=True, file_okay=False),
    help="Root of an OTB download, to look --sequence up by name.",
)
@click.option(
    "--tracker",
    "tracker_name",
    default="gdt",
    show_default=True,
    help=f"One of {', '.join(TRACKERS)} (gdt-reference: the paper's order, slow).",
)
@weights_option
@tracking_uri_option
@config_options
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Results file, OTB format (1-based x,y,w,h per frame).",
)
@click.option("--video", type=click.Path(dir_okay=False), help="Write an overlay video (.mp4).")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    help='Write {"auc", "precision", "fps", "frames"}.',
)
def track(sequence, otb_root, tracker_name, weights, overlays, overrides, out, video, json_out):
    """Track one sequence from its first ground-truth box; print AUC, precision@20 and fps."""
    from gdt_core.boxes import to_otb_file
    from gdt_core.data.box_file import write_box_file
    from gdt_core.data.otb import OTBDataError
    from gdt_core.metrics.ope import score_sequence
    from gdt_core.network.network import WeightsError
    from gdt_core.tracking.interface import OPEInterrupted, run_ope
    from gdt_core.tracking.trackers import make_tracker
    from workflows.pretrain.weights import gdt_weights, resolve_weights

    cfg = build_config(overlays, overrides)
    seq = _load(sequence, otb_root)
    try:
        local = resolve_weights(gdt_weights(weights, tracker_name), cfg.mlflow.tracking_uri)
        tracker = make_tracker(tracker_name, cfg, local)
    except WeightsError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # unknown tracker name
        raise click.UsageError(str(exc)) from None
    try:
        with click.progressbar(length=len(seq), label=f"{seq.name} ({tracker_name})") as bar:
            bar.update(1)
            result = run_ope(tracker, seq, progress=lambda done, total: bar.update(1))
    except OPEInterrupted as exc:
        partial = Path(f"{out}.partial")
        write_box_file(partial, to_otb_file(exc.partial.boxes))
        raise click.ClickException(
            f"{exc} -- stopped; the boxes of frames {seq.frame_number(0)}.."
            f"{seq.frame_number(exc.index - 1)} are in {partial} (partial)"
        ) from None
    except OTBDataError as exc:  # frame 1 itself
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # the first box cannot start this tracker
        raise click.ClickException(_first_box_error(seq, sequence, otb_root, exc)) from None
    write_box_file(out, to_otb_file(result.boxes))
    curves = score_sequence(seq.ground_truth, result.boxes)
    metrics = {
        "auc": curves.auc,
        "precision": curves.precision_score,
        "fps": result.fps,
        "frames": len(seq),
    }
    click.echo(
        f"{seq.name}: AUC {metrics['auc']:.3f}  precision@20 {metrics['precision']:.3f}  "
        f"{metrics['fps']:.2f} frames/s  ({len(seq)} frames) -> {out}"
    )
    if json_out:
        Path(json_out).write_text(json.dumps(metrics, indent=2) + "\n")
    if video:
        codec = _write_video(Path(video), seq, result.boxes, result.scores, tracker_name.upper())
        played = "H.264: plays in browsers" if codec == "avc1" else NO_H264
        click.echo(f"video -> {video} ({played})")
