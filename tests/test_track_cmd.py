"""``gdt-flow track`` on a small generated OTB folder: results file, JSON, video, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gdt_core.data.box_file import read_box_file
from gdt_core.data.synthetic_otb import write_synthetic_sequence
from workflows.cli import main

FAST = [
    "tracker.candidate_features=pooled",
    "network.input_size=99",
    "tracker.pooled_target_size=32",
    "sampling.first_frame_positives=16",
    "sampling.first_frame_negatives=32",
    "sampling.num_positives=4",
    "sampling.num_negatives=8",
    "candidates.positions_per_scale=8",
    "phase2.max_iterations=2",
    "phase2.batch_size=16",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_synthetic_sequence(tmp_path_factory.mktemp("otb"), "Tiny", 8, seed=1)


def _args(*extra):
    out = []
    for item in FAST:
        out += ["--set", item]
    return [*out, *extra]


def test_track_writes_results_json_and_video(folder, tmp_path):
    out, js, video = tmp_path / "r.txt", tmp_path / "m.json", tmp_path / "v.mp4"
    args = _args("--sequence", str(folder), "--out", str(out), "--json", str(js))
    result = CliRunner().invoke(main, ["track", *args, "--video-out", str(video)])
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output and "frames/s" in result.output
    boxes = read_box_file(out)
    assert boxes.shape == (8, 4)
    first_gt = read_box_file(folder / "groundtruth_rect.txt")[0]
    assert boxes[0] == pytest.approx(first_gt)  # 1-based in the file, like the ground truth
    metrics = json.loads(js.read_text())
    assert set(metrics) == {"auc", "precision", "fps", "frames", "start_frame"}
    assert metrics["frames"] == 8 and metrics["start_frame"] == 1
    assert video.stat().st_size > 1000
    assert video.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    import cv2

    from workflows.evaluate.track_cmd import NO_H264

    capture = cv2.VideoCapture(str(video))
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).lower()
    said = "H.264: plays in browsers" if fourcc in ("avc1", "h264") else NO_H264
    assert "video ->" in result.output and said in result.output  # the codec really used
    ok, frame = capture.read()
    legend = frame[4:44, 4:120].reshape(-1, 3).astype(int)  # "ground truth", "GDT" labels
    assert (legend.min(axis=1) > 180).any()  # white text: the ground truth's colour
    assert ((legend[:, 2] > 150) & (legend[:, 1] < 90)).any()  # red text: the tracker's


def test_track_a_baseline_by_name(folder, tmp_path):
    args = ["--sequence", str(folder), "--out", str(tmp_path / "r.txt"), "--tracker", "kcf"]
    result = CliRunner().invoke(main, ["track", *args])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weights", "missing.pt"], "missing.pt"),
        (["--tracker", "nope"], "unknown tracker"),
        (["--set", "tracker.candidate_features=fast"], "tracker.candidate_features"),
    ],
)
def test_track_errors_are_named(folder, tmp_path, extra, message):
    args = ["--sequence", str(folder), "--out", str(tmp_path / "r.txt"), *extra]
    result = CliRunner().invoke(main, ["track", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_track_by_name_needs_otb_root(tmp_path):
    result = CliRunner().invoke(main, ["track", "--sequence", "Crossing", "--out", "r.txt"])
    assert result.exit_code != 0 and "--otb-root" in result.output


def test_track_a_real_otb_target_by_name(shared_data, tmp_path):
    args = ["--sequence", "Skiing", "--otb-root", str(shared_data / "otb"), "--tracker", "csrt"]
    result = CliRunner().invoke(main, ["track", *args, "--out", str(tmp_path / "r.txt")])
    assert result.exit_code == 0, result.output
    assert read_box_file(tmp_path / "r.txt").shape == (81, 4)


def test_a_corrupt_frame_stops_with_one_line_and_keeps_the_frames_before(folder, tmp_path):
    import shutil

    broken = tmp_path / "Tiny"
    shutil.copytree(folder, broken)
    (broken / "img" / "0006.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "r.txt"
    result = CliRunner().invoke(
        main, ["track", *_args("--sequence", str(broken), "--out", str(out))]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert "0006.jpg: unreadable image (frame 6 of Tiny)" in last
    assert "frames 1..5" in last and "r.txt.partial (partial)" in last
    assert not out.exists() and read_box_file(f"{out}.partial").shape == (5, 4)


def test_models_uri_against_a_missing_store_creates_nothing(folder, tmp_path):
    db = tmp_path / "none" / "mlflow.db"
    args = ["--sequence", str(folder), "--out", str(tmp_path / "r.txt")]
    args += ["--weights", "models:/gdt-objectness/7", "--tracking-uri", f"sqlite:///{db}"]
    result = CliRunner().invoke(main, ["track", *args])
    assert result.exit_code == 1 and f"no MLflow store at sqlite:///{db}" in result.output
    assert not db.exists() and not db.parent.exists()


@pytest.mark.parametrize(
    ("first", "reason"),
    [("5,5,1.5,1.5", "too small (1.5 x 1.5 px)"), ("500,500,10,10", "outside the 160x120 image")],
)
def test_a_first_box_the_tracker_refuses_names_file_line_and_box_as_written(
    folder, tmp_path, first, reason
):
    import shutil

    broken = tmp_path / "Tiny"
    shutil.copytree(folder, broken)
    gt = broken / "groundtruth_rect.txt"
    gt.write_text(first + "\n" + "".join(gt.read_text().splitlines(keepends=True)[1:]))
    result = CliRunner().invoke(
        main, ["track", *_args("--sequence", str(broken), "--out", str(tmp_path / "r.txt"))]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = result.output
    assert f"groundtruth_rect.txt:1: the first box (x,y,w,h = {first}) cannot start" in said
    assert reason in said
