"""LaSOT: the reader on generated folders in its exact layout, and its toolkit's scores on
hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_data import lasot_from_synthetic, write_lasot_video

from gdt_core.boxes import from_otb_file
from gdt_core.data.lasot import LaSOTDataError, lasot_sequence_names, load_lasot_sequence
from gdt_core.metrics.lasot_scores import mean_lasot_curves, score_lasot_sequence
from gdt_core.metrics.ope import score_sequence


def _three_frames(folder: Path) -> Path:
    return write_lasot_video(folder, ["2,3,4,5", "3,3,4,5", "4,3,4,5"], "0,0,1", "0,1,0")


def test_reads_the_nested_layout_with_visibility_and_0_based_boxes(tmp_path):
    _three_frames(tmp_path / "airplane" / "airplane-1")
    seq = load_lasot_sequence(tmp_path, "airplane-1")
    assert len(seq) == 3 and seq.category == "airplane"
    np.testing.assert_array_equal(seq.ground_truth[0], [1, 2, 4, 5])  # file is 1-based
    np.testing.assert_array_equal(seq.visible, [True, False, False])
    assert seq.frame(2).shape == (12, 16, 3) and int(seq.frame(2)[0, 0, 0]) in range(115, 126)


def test_names_are_found_in_nested_and_flat_roots_in_numeric_order(tmp_path):
    for name in ("cat-10", "cat-2", "airplane-1"):
        _three_frames(tmp_path / name.split("-")[0] / name)
    assert lasot_sequence_names(tmp_path) == ["airplane-1", "cat-2", "cat-10"]
    flat = tmp_path / "flat"
    _three_frames(flat / "dog-3")
    assert lasot_sequence_names(flat) == ["dog-3"]
    assert len(load_lasot_sequence(flat, "dog-3")) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(LaSOTDataError, match="empty: no LaSOT sequence"):
        lasot_sequence_names(tmp_path / "empty")


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda f: (f / "full_occlusion.txt").write_text("0,2,0"), "full_occlusion.txt:1: '2'"),
        (lambda f: (f / "out_of_view.txt").write_text("0,0"), "2 values, but the sequence has 3"),
        (lambda f: (f / "img" / "00000002.jpg").unlink(), "00000002.jpg: missing image"),
        (lambda f: (f / "groundtruth.txt").write_text("2,3,0,5\n"), "groundtruth.txt:1: the first"),
        (lambda f: (f / "groundtruth.txt").write_text("2,3,4\n"), "groundtruth.txt:1: expected 4"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, broken, message):
    folder = _three_frames(tmp_path / "bird" / "bird-1")
    broken(folder)
    with pytest.raises(LaSOTDataError, match=message.replace(".", r"\.")):
        load_lasot_sequence(tmp_path, "bird-1")


def test_unknown_or_malformed_names_are_clear(tmp_path):
    with pytest.raises(LaSOTDataError, match="sequence folder not found"):
        load_lasot_sequence(tmp_path, "bird-7")
    with pytest.raises(LaSOTDataError, match="not a LaSOT sequence name"):
        load_lasot_sequence(tmp_path, "bird")


def _file_boxes(rows):
    return from_otb_file(np.array(rows, dtype=float))


def test_scores_by_hand_carry_absent_frames_and_normalised_precision():
    # 1-based as in the files; frame 4 is absent
    gt = _file_boxes([[1, 1, 10, 10], [1, 1, 10, 10], [11, 11, 10, 10], [1, 1, 10, 10]])
    res = _file_boxes([[5, 5, 3, 3], [1, 1, 10, 10], [np.nan] * 4, [1, 1, 10, 10]])
    c = score_lasot_sequence(gt, res, np.array([True, True, True, False]))
    # frame 1 = ground truth (overlap 1); frame 2 exact; frame 3 carries frame 2's box:
    # no overlap, centre 10 px right and down (14.14 px; 1.414 box sizes); frame 4 scores
    # nothing; the denominator is all 4 frames
    np.testing.assert_allclose(c.success, [0.5] * 20 + [0.0])
    assert c.auc == pytest.approx(10 / 21)
    assert c.precision[14] == 0.5 and c.precision[15] == 0.75
    assert c.precision_score == 0.75
    assert c.norm_precision_score == 0.5
    assert c.norm_precision[-1] == 0.5  # 1.414 > 0.5: never within
    # OTB's scorer on the same rows: frame 1's 3x3 box (overlap 0.09) and the absent frame 4
    # count, frame 3 (NaN) fails: success 0.75 up to 0.05, then 0.5
    assert score_sequence(gt, res).auc == pytest.approx((2 * 0.75 + 18 * 0.5) / 21)


def test_invalid_ground_truth_is_a_success_miss_and_a_precision_hit_as_in_the_toolkit():
    gt = _file_boxes([[1, 1, 10, 10], [0, 0, 0, 0]])
    res = _file_boxes([[1, 1, 10, 10], [50, 50, 10, 10]])
    c = score_lasot_sequence(gt, res, np.array([True, True]))
    assert c.success[0] == 0.5 and c.precision[0] == 1.0 and c.norm_precision[0] == 1.0


def test_data_set_curves_are_the_mean_of_the_videos_and_lengths_must_match():
    gt = _file_boxes([[1, 1, 10, 10], [1, 1, 10, 10]])
    hit = score_lasot_sequence(gt, gt, np.array([True, True]))
    absent = score_lasot_sequence(gt, gt, np.array([True, False]))
    both = mean_lasot_curves([hit, absent])
    assert both.auc == pytest.approx((hit.auc + absent.auc) / 2)
    assert absent.success[0] == 0.5
    with pytest.raises(ValueError, match="result has 1 rows, the ground truth 2"):
        score_lasot_sequence(gt, gt[:1], np.array([True, True]))


def test_a_tracker_runs_and_is_scored_end_to_end_on_a_generated_lasot_video(tmp_path):
    from gdt_core.tracking.baselines import OpenCVTracker
    from gdt_core.tracking.interface import run_ope

    lasot_from_synthetic(tmp_path, "square-1", 30, seed=3, hidden=(10, 11, 12))
    seq = load_lasot_sequence(tmp_path, "square-1")
    result = run_ope(OpenCVTracker("csrt"), seq)
    curves = score_lasot_sequence(seq.ground_truth, result.boxes, seq.visible)
    assert curves.success[0] == pytest.approx(27 / 30)  # tracked throughout, 3 frames absent
    assert curves.auc > 0.6 and curves.precision_score == pytest.approx(27 / 30)
