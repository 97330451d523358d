"""GOT-10k: the reader on generated folders in its exact layout, and its toolkit's scores on
hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_data import got10k_from_synthetic, write_got10k_video

from gdt_core.data.got10k import GOT10kDataError, got10k_sequence_names, load_got10k_sequence
from gdt_core.metrics.got10k_scores import bounded_iou, got10k_ious, got10k_scores

VAL = "GOT-10k_Val_000001"


def _val(root: Path) -> Path:
    return write_got10k_video(root / "val" / VAL, ["1,2,4,5", "2,2,4,5", "3,2,4,5"], 3, "8\n8\n0\n")


def test_reads_a_val_sequence_with_cover_and_resolution(tmp_path):
    _val(tmp_path)
    (tmp_path / "val" / "list.txt").write_text(VAL + "\n")
    assert got10k_sequence_names(tmp_path, "val") == [VAL]
    seq = load_got10k_sequence(tmp_path, "val", VAL)
    assert len(seq) == 3 and seq.resolution == (16, 12) and seq.meta["object_class"] == "cat"
    np.testing.assert_array_equal(seq.ground_truth[0], [1, 2, 4, 5])  # used as written
    np.testing.assert_array_equal(seq.visible, [True, True, False])
    np.testing.assert_array_equal(seq.absent, [0, 0, 1])
    assert seq.frame(1).shape == (12, 16, 3)


def test_a_test_split_sequence_has_its_first_box_only(tmp_path):
    write_got10k_video(tmp_path / "test" / "GOT-10k_Test_000001", ["1,2,4,5"], 3, cover=None)
    assert got10k_sequence_names(tmp_path, "test") == ["GOT-10k_Test_000001"]
    seq = load_got10k_sequence(tmp_path, "test", "GOT-10k_Test_000001")
    assert len(seq) == 3 and seq.visible is None
    assert np.isfinite(seq.ground_truth[0]).all() and np.isnan(seq.ground_truth[1:]).all()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda f: (f / "cover.label").write_text("8\n8\n9\n"), "cover.label:3: '9'"),
        (lambda f: (f / "absence.label").write_text("0\n1\n"), "2 values, but the sequence"),
        (lambda f: (f / "groundtruth.txt").write_text("1,2,4,5\n2,2,4,5\n"), "2 lines, but"),
        (lambda f: (f / "00000002.jpg").unlink(), "00000002.jpg: missing image"),
        (lambda f: (f / "meta_info.ini").write_text("[METAINFO]\nresolution: 16\n"), "'16' is"),
        (lambda f: (f / "groundtruth.txt").write_text("x\n"), "groundtruth.txt:1: expected 4"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, broken, message):
    broken(_val(tmp_path))
    with pytest.raises(GOT10kDataError, match=message.replace(".", r"\.")):
        load_got10k_sequence(tmp_path, "val", VAL)


def test_unknown_split_or_sequence_is_clear(tmp_path):
    with pytest.raises(GOT10kDataError, match="unknown GOT-10k split 'dev'"):
        got10k_sequence_names(tmp_path, "dev")
    (tmp_path / "val").mkdir()
    with pytest.raises(GOT10kDataError, match="val: no GOT-10k sequence found"):
        got10k_sequence_names(tmp_path, "val")
    with pytest.raises(GOT10kDataError, match="sequence folder not found"):
        load_got10k_sequence(tmp_path, "val", VAL)


def test_ious_skip_frame_1_and_invisible_frames_and_are_clipped_to_the_image():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]], float)
    res = np.array([[3, 3, 1, 1], [0, 0, 10, 10], [0, 0, 10, 10], [90, 90, 5, 5]], float)
    visible = np.array([True, True, True, False])
    # frame 3: intersection 5 x 10 = 50, union 150
    np.testing.assert_allclose(got10k_ious(gt, res, visible, None), [1, 1 / 3])
    # clipped to an 8 x 8 image: (0,0,8,8) against (5,0,3,8): 24 / 64
    np.testing.assert_allclose(got10k_ious(gt, res, visible, (8, 8)), [1, 0.375])
    assert bounded_iou(res[:1], gt[:1], None)[0] == pytest.approx(1 / 100)


def test_scores_by_hand_and_pooled_over_frames_not_averaged_over_videos():
    one = got10k_scores(np.array([1.0, 1 / 3]))
    assert (one.ao, one.sr50, one.sr75, one.frames) == (pytest.approx(2 / 3), 0.5, 0.5, 2)
    assert one.success[0] == 1.0 and one.success[50] == 0.5 and one.success[-1] == 0.0
    both = got10k_scores([np.array([1.0, 1 / 3]), np.array([0.6])])
    assert both.ao == pytest.approx((1 + 1 / 3 + 0.6) / 3)  # not (2/3 + 0.6) / 2
    assert both.sr50 == pytest.approx(2 / 3) and both.sr75 == pytest.approx(1 / 3)
    empty = got10k_scores(np.array([]))
    assert empty.frames == 0 and np.isnan(empty.ao)


def test_a_tracker_runs_and_is_scored_end_to_end_on_a_generated_got10k_video(tmp_path):
    from gdt_core.tracking.baselines import OpenCVTracker
    from gdt_core.tracking.interface import run_ope

    got10k_from_synthetic(tmp_path / "val", VAL, 30, seed=3, hidden=(5,))
    seq = load_got10k_sequence(tmp_path, "val", VAL)
    result = run_ope(OpenCVTracker("csrt"), seq)
    ious = got10k_ious(seq.ground_truth, result.boxes, seq.visible, seq.resolution)
    assert len(ious) == 28  # frames 2..30 less the one with cover 0
    scores = got10k_scores([ious])
    assert scores.ao > 0.6 and scores.sr50 > 0.9
