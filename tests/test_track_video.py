"""``gdt-flow track --video / --frames``: your own frames, a box, no ground truth; the same
boxes as the OTB run of the same frames; every bad input one clear line and a non-zero exit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from gdt_core.boxes import from_otb_file
from gdt_core.data.box_file import read_box_file
from gdt_core.data.otb import load_sequence
from gdt_core.data.synthetic_otb import write_synthetic_sequence
from gdt_core.metrics.ope import score_sequence
from tests.test_track_cmd import FAST
from workflows.cli import main


def _fast(*extra: str) -> list[str]:
    return [arg for item in FAST for arg in ("--set", item)] + list(extra)


def _write_video(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v") -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_synthetic_sequence(tmp_path_factory.mktemp("own"), "Own", 10, seed=2)


def _first_box(folder: Path) -> str:
    return ",".join(f"{v:g}" for v in read_box_file(folder / "groundtruth_rect.txt")[0])


def _invoke(args: list[str]):
    return CliRunner().invoke(main, ["track", *args])


def test_frames_and_video_track_from_a_box_without_ground_truth(folder: Path, tmp_path) -> None:
    out, js, overlay = tmp_path / "b.txt", tmp_path / "m.json", tmp_path / "o.mp4"
    args = _fast("--frames", str(folder / "img"), "--box", _first_box(folder), "--out", str(out))
    result = _invoke([*args, "--json", str(js), "--video-out", str(overlay)])
    assert result.exit_code == 0, result.output
    assert (
        "no ground truth, so no AUC or precision" in result.output and "frames/s" in result.output
    )
    assert "AUC 0" not in result.output
    boxes = read_box_file(out)
    assert boxes.shape == (10, 4) and boxes[0] == pytest.approx(
        read_box_file(folder / "groundtruth_rect.txt")[0]
    )
    metrics = json.loads(js.read_text())
    assert metrics["auc"] is None and metrics["precision"] is None and metrics["frames"] == 10
    capture = cv2.VideoCapture(str(overlay))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    # from frame 4, with its 0-based box as OpenCV writes boxes; CSRT on the same video
    frames = [cv2.imread(str(p)) for p in sorted((folder / "img").glob("*.jpg"))]
    video = _write_video(tmp_path / "own.mp4", frames)
    truth0 = from_otb_file(read_box_file(folder / "groundtruth_rect.txt"))[3]
    box = ",".join(f"{v:g}" for v in truth0)
    later = tmp_path / "later.txt"
    args = ["--video", str(video), "--box", box, "--box-format", "0-based", "--start-frame", "4"]
    result = _invoke([*args, "--tracker", "csrt", "--out", str(later)])
    assert result.exit_code == 0, result.output
    assert "7 frames from frame 4" in result.output
    assert read_box_file(later)[0] == pytest.approx(truth0 + [1, 1, 0, 0])


@pytest.mark.shared_data
def test_own_frames_give_the_otb_runs_boxes_and_an_mp4_of_them_scores_alike(
    shared_data: Path, imagenet_conv_weights: Path, tmp_path: Path
) -> None:
    otb = shared_data / "otb"
    weights = ["--weights", str(imagenet_conv_weights)]
    run = tmp_path / "otb.txt"
    result = _invoke(
        ["--sequence", "Crossing", "--otb-root", str(otb), "--out", str(run), *weights]
    )
    assert result.exit_code == 0, result.output
    gt_line = (otb / "Crossing" / "groundtruth_rect.txt").read_text().splitlines()[0]
    own = tmp_path / "own.txt"
    args = ["--frames", str(otb / "Crossing" / "img"), "--box", gt_line, "--out", str(own)]
    result = _invoke([*args, *weights])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(read_box_file(own), read_box_file(run))
    seq = load_sequence(otb, "Crossing")
    video = _write_video(tmp_path / "crossing.mp4", [seq.frame(i) for i in range(len(seq))])
    encoded = tmp_path / "mp4.txt"
    result = _invoke(["--video", str(video), "--box", gt_line, "--out", str(encoded), *weights])
    assert result.exit_code == 0, result.output
    auc = {
        name: score_sequence(seq.ground_truth, from_otb_file(read_box_file(path))).auc
        for name, path in (("otb", run), ("mp4", encoded))
    }
    assert auc["otb"] > 0.4 and abs(auc["mp4"] - auc["otb"]) <= 0.05, auc


def test_bad_input_is_one_clear_line_and_a_failing_exit(folder: Path, tmp_path: Path) -> None:
    box = _first_box(folder)
    out = str(tmp_path / "b.txt")
    frames = [cv2.imread(str(p)) for p in sorted((folder / "img").glob("*.jpg"))]
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    short = _write_video(tmp_path / "short.mp4", frames[:5])
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    shutil.copytree(folder / "img", broken)
    (broken / "0005.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    avi = _write_video(tmp_path / "cut.avi", frames, "MJPG")
    avi.write_bytes(avi.read_bytes()[: int(avi.stat().st_size * 0.6)])  # a video cut short
    cases = [
        (["--video", str(not_video), "--box", box], f"{not_video}: OpenCV cannot open this video"),
        (
            ["--video", str(short), "--box", box, "--start-frame", "9"],
            f"{short}: ends after 5 frames, before --start-frame 9",
        ),
        (["--frames", str(empty), "--box", box], f"{empty}: no .jpg or .png images"),
        (["--frames", str(folder / "img"), "--box", "1,2,0,40"], "has a width or height <= 0"),
        (
            ["--frames", str(folder / "img"), "--box", "300,20,40,30"],
            "is not inside the frame (160 x 120 pixels)",
        ),
        (
            ["--frames", str(broken), "--box", box],
            f"{broken / '0005.jpg'}: unreadable image (frame 5)",
        ),
        (["--video", str(avi), "--box", box], "cannot be decoded (the video announces 10)"),
    ]
    for args, message in cases:
        result = _invoke(_fast(*args, "--out", out))
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    partial = read_box_file(f"{out}.partial")  # the last case: the frames before the cut
    assert 1 <= len(partial) < 10
    result = _invoke(_fast("--frames", str(broken), "--box", box, "--out", out))
    assert "frames 1..4 are in" in result.output and len(read_box_file(f"{out}.partial")) == 4
    for args, message in [
        (["--frames", str(folder / "img"), "--box", "1,2,3"], "--box must be four numbers"),
        (["--frames", str(folder / "img")], "need --box"),
        (["--video", str(short), "--frames", str(folder / "img"), "--box", box], "one of"),
    ]:
        result = _invoke([*args, "--out", out])
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_log_records_the_track_as_an_mlflow_run(folder: Path, tmp_path: Path) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "b.txt"
    args = ["--frames", str(folder / "img"), "--box", _first_box(folder), "--tracker", "csrt"]
    result = _invoke([*args, "--out", str(out), "--log", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    run_id = result.output.strip().splitlines()[-1].split()[-1]
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "track img (csrt)"
    assert run.data.metrics["frames"] == 10 and "auc" not in run.data.metrics
    assert run.data.params["tracker"] == "csrt" and run.data.params["start_frame"] == "1"
    assert [a.path for a in client.list_artifacts(run_id)] == ["b.txt"]
    assert not _invoke([*args, "--out", str(out)]).output.count("MLflow run")  # only if asked
