"""``gdt-flow track``: one tracker on an OTB sequence (OPE-style), or on your own video."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import click

from gdt_core.tracking.frame_view import GROUND_TRUTH
from gdt_core.tracking.trackers import TRACKERS
from workflows.options import (
    build_config,
    config_options,
    root_option,
    tracking_uri_option,
    weights_option,
)


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


def _write_video(path: Path, frames, shown, captions) -> str:
    """Overlay video (:func:`gdt_core.tracking.frame_view.draw_boxes`) of ``frames``: the
    boxes of ``shown`` (label -> one box per frame; ground truth where there is one) with a
    legend naming them, and a caption per frame; returns the codec used."""
    from gdt_core.tracking.frame_view import draw_boxes

    writer = None
    try:
        for i, frame in enumerate(frames):
            if writer is None:
                h, w = frame.shape[:2]
                writer, codec = _open_writer(path, (w, h))
            boxes = {label: boxes[i] for label, boxes in shown.items()}
            writer.write(draw_boxes(frame, boxes, caption=captions[i]))
    finally:
        if writer is not None:
            writer.release()
    return codec


def _captions(numbers, scores) -> list[str]:
    """``frame N, score S = s`` (eq. 4 for GDT; no score on the first frame)."""
    import numpy as np

    return [
        f"frame {n}" + (f", score S = {s:.1f}" if np.isfinite(s) else "")
        for n, s in zip(numbers, scores, strict=False)
    ]


def _parse_box(text: str, box_format: str):
    """``--box x,y,w,h`` (or ``"x y w h"``) as a 0-based box (``1-based``: OTB's pixels, as
    its files write them)."""
    import numpy as np

    try:  # separated as OTB files separate them: commas, tabs or spaces
        values = [float(v) for v in re.split(r"[,\s]+", text.strip())]
    except ValueError:
        values = []
    if len(values) != 4 or not all(np.isfinite(values)):
        raise click.UsageError(f"--box must be four numbers x,y,w,h, got {text!r}")
    box = np.array(values)
    if box_format == "1-based":
        box[:2] -= 1
    return box


def _check_box(box, text: str, box_format: str, frame, where: str) -> None:
    """A box of positive size inside the first frame (1 px of rounding allowed)."""
    h, w = frame.shape[:2]
    x, y, bw, bh = box
    problem = ""
    if bw <= 0 or bh <= 0:
        problem = "has a width or height <= 0"
    elif x < -1 or y < -1 or x + bw > w + 1 or y + bh > h + 1:
        problem = f"is not inside the frame ({w} x {h} pixels)"
    if problem:
        raise click.ClickException(
            f"--box {text} ({box_format} x,y,w,h) {problem}: {where}, where tracking starts"
        )


SOURCES_HELP = "Give one of --sequence, --video or --frames."


@click.command("track")
@click.option(
    "--sequence",
    help="An OTB folder (img/ + groundtruth_rect.txt) "
    "or a target name of the sequence table (with --otb-root).",
)
@root_option
@click.option(
    "--video",
    "video_in",
    help="Your own video: anything OpenCV reads (.mp4, .avi, an image-sequence pattern such "
    "as img/%04d.jpg); no ground truth needed, give --box.",
)
@click.option(
    "--frames",
    "frames_dir",
    help="Your own frames: a folder of .jpg/.png images (natural order); give --box.",
)
@click.option("--box", help="With --video/--frames: the target in the start frame, x,y,w,h.")
@click.option(
    "--box-format",
    type=click.Choice(["1-based", "0-based"]),
    default="1-based",
    show_default=True,
    help="--box in 1-based pixels as OTB writes boxes, or 0-based as OpenCV does.",
)
@click.option(
    "--start-frame",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --video/--frames: the 1-based frame --box is in; tracking starts there.",
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
    help="Results file, OTB format (1-based x,y,w,h per frame tracked).",
)
@click.option("--video-out", type=click.Path(dir_okay=False), help="Write an overlay video (.mp4).")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    help='Write {"auc", "precision", "fps", "frames", "start_frame"} (no ground truth: '
    "auc and precision are null).",
)
@click.option(
    "--log/--no-log",
    default=False,
    help="Also record the result as an MLflow run (params, metrics, boxes and video).",
)
def track(
    sequence,
    root,
    video_in,
    frames_dir,
    box,
    box_format,
    start_frame,
    tracker_name,
    weights,
    overlays,
    overrides,
    out,
    video_out,
    json_out,
    log,
):
    """Track a target: on an OTB sequence from its first ground-truth box (prints AUC and
    precision@20), or on your own video or frames from --box; prints frames/s."""
    sources = [s for s in (sequence, video_in, frames_dir) if s]
    if len(sources) != 1:
        raise click.UsageError(SOURCES_HELP)
    if sequence and box:
        raise click.UsageError(
            "--box goes with --video or --frames (an OTB sequence starts from its ground truth)"
        )
    if not sequence and not box:
        raise click.UsageError(
            f"--video and --frames need --box x,y,w,h (the target in frame {start_frame})"
        )
    cfg = build_config(overlays, overrides)
    tracker = _make_tracker(tracker_name, weights, cfg)
    if sequence:
        metrics, files = _track_sequence(tracker, tracker_name, sequence, root, out, video_out)
        name = Path(sequence).name
    else:
        source = video_in or frames_dir
        metrics, files = _track_stream(
            tracker,
            tracker_name,
            source,
            bool(video_in),
            _parse_box(box, box_format),
            box,
            box_format,
            start_frame,
            out,
            video_out,
        )
        name = Path(source).name
    if json_out:
        Path(json_out).write_text(json.dumps(metrics, indent=2) + "\n")
    if log:
        params = {"tracker": tracker_name, "source": sequence or video_in or frames_dir}
        if box:
            params.update({"box": box, "box_format": box_format, "start_frame": start_frame})
        run_id = _log(cfg, f"track {name} ({tracker_name})", params, metrics, files)
        click.echo(f"MLflow run {run_id}")


def _make_tracker(tracker_name: str, weights: str | None, cfg):
    from gdt_core.network.network import WeightsError
    from gdt_core.tracking.trackers import make_tracker
    from workflows.pretrain.weights import gdt_weights, resolve_weights

    try:
        local = resolve_weights(gdt_weights(weights, tracker_name), cfg.mlflow.tracking_uri)
        return make_tracker(tracker_name, cfg, local)
    except WeightsError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # unknown tracker name
        raise click.UsageError(str(exc)) from None


def _partial_error(exc, out: str, first: int) -> click.ClickException:
    """The frames tracked before a failure, kept in ``<out>.partial``; the error naming it."""
    from gdt_core.boxes import to_otb_file
    from gdt_core.data.box_file import write_box_file

    partial = Path(f"{out}.partial")
    write_box_file(partial, to_otb_file(exc.partial.boxes))
    last = first + len(exc.partial.boxes) - 1
    return click.ClickException(
        f"{exc} -- stopped; the boxes of frames {first}..{last} are in {partial} (partial)"
    )


def _track_sequence(tracker, tracker_name, sequence, otb_root, out, video_out):
    """An OTB sequence from its first ground-truth box, scored against its ground truth."""
    from gdt_core.boxes import to_otb_file
    from gdt_core.data.box_file import write_box_file
    from gdt_core.data.otb import OTBDataError
    from gdt_core.metrics.ope import score_sequence
    from gdt_core.tracking.interface import OPEInterrupted, run_ope

    seq = _load(sequence, otb_root)
    try:
        with click.progressbar(length=len(seq), label=f"{seq.name} ({tracker_name})") as bar:
            bar.update(1)
            result = run_ope(tracker, seq, progress=lambda done, total: bar.update(1))
    except OPEInterrupted as exc:
        raise _partial_error(exc, out, seq.frame_number(0)) from None
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
        "start_frame": seq.frame_number(0),
    }
    click.echo(
        f"{seq.name}: AUC {metrics['auc']:.3f}  precision@20 {metrics['precision']:.3f}  "
        f"{metrics['fps']:.2f} frames/s  ({len(seq)} frames) -> {out}"
    )
    files = [Path(out)]
    if video_out:
        frames = (seq.frame(i) for i in range(len(seq)))
        numbers = [seq.frame_number(i) for i in range(len(seq))]
        shown = {GROUND_TRUTH: seq.ground_truth, tracker_name.upper(): result.boxes}
        codec = _write_video(Path(video_out), frames, shown, _captions(numbers, result.scores))
        _said_video(video_out, codec)
        files.append(Path(video_out))
    return metrics, files


def _track_stream(
    tracker, tracker_name, source, is_video, box, box_text, box_format, start, out, video_out
):
    """A video or a folder of frames from ``box`` in frame ``start``: boxes, no scores."""
    from gdt_core.boxes import to_otb_file
    from gdt_core.data.box_file import write_box_file
    from gdt_core.data.frames import (
        FrameSourceError,
        folder_frames,
        folder_images,
        video_frame_count,
        video_frames,
    )
    from gdt_core.tracking.interface import OPEInterrupted, track_frames

    def read():
        return video_frames(source, start) if is_video else folder_frames(source, start)

    try:
        total = video_frame_count(source) if is_video else len(folder_images(source))
        stream = read()
        number, first = next(stream)
    except FrameSourceError as exc:
        raise click.ClickException(str(exc)) from None
    _check_box(box, box_text, box_format, first, f"frame {number} of {source}")
    frames = itertools.chain([first], (frame for _, frame in stream))
    label = f"{Path(source).name} ({tracker_name})"
    try:
        if total >= start:  # the length is known: a progress bar
            with click.progressbar(length=total - start + 1, label=label, show_pos=True) as bar:
                bar.update(1)
                result = track_frames(tracker, frames, box, label, lambda done: bar.update(1))
        else:  # a stream that does not say its length: a line every 100 frames

            def said(done: int) -> None:
                if done % 100 == 0:
                    click.echo(f"{label}: frame {start + done - 1}")

            result = track_frames(tracker, frames, box, label, said)
    except OPEInterrupted as exc:
        raise _partial_error(exc, out, start) from None
    except ValueError as exc:  # the box cannot start this tracker
        raise click.ClickException(f"--box {box_text}: cannot start tracking: {exc}") from None
    write_box_file(out, to_otb_file(result.boxes))
    metrics = {
        "auc": None,
        "precision": None,
        "fps": result.fps,
        "frames": len(result.boxes),
        "start_frame": start,
    }
    click.echo(
        f"{Path(source).name}: {len(result.boxes)} frames from frame {start}, "
        f"{result.fps:.2f} frames/s -> {out}; no ground truth, so no AUC or precision"
    )
    files = [Path(out)]
    if video_out:
        numbers = range(start, start + len(result.boxes))
        shown = {tracker_name.upper(): result.boxes}
        frames = (frame for _, frame in read())
        codec = _write_video(Path(video_out), frames, shown, _captions(numbers, result.scores))
        _said_video(video_out, codec)
        files.append(Path(video_out))
    return metrics, files


def _said_video(video_out: str, codec: str) -> None:
    played = "H.264: plays in browsers" if codec == "avc1" else NO_H264
    click.echo(f"video -> {video_out} ({played})")


def _log(cfg, name: str, params: dict, metrics: dict, files: list[Path]) -> str:
    """One MLflow run of this track: the config and the source as params, the numbers
    (``auc``/``precision`` only with ground truth) as metrics, the files as artifacts."""
    from mlflow import MlflowClient

    from workflows.runs.mlflow_store import (
        failed_on_error,
        finish_run,
        log_metrics,
        log_params,
        open_run,
        reachable_experiment,
        resolve_tracking_uri,
        version_tags,
    )

    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    try:
        experiment = reachable_experiment(uri, cfg.mlflow.experiment)
    except ConnectionError as exc:
        raise click.ClickException(f"{exc}; the results are in the files") from None
    client = MlflowClient(uri)
    run_id = open_run(client, experiment, name, {"gdt.command": "track", **version_tags()})
    with failed_on_error(client, run_id):
        log_params(client, run_id, {**cfg.flat(), **params})
        log_metrics(client, run_id, {k: v for k, v in metrics.items() if v is not None})
        for path in files:
            client.log_artifact(run_id, str(path))
    finish_run(client, run_id)
    return run_id
