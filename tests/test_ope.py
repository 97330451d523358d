"""OPE scoring against hand-computed values (conventions of ../shared/data/README.md)."""

from __future__ import annotations

import numpy as np
import pytest

from gdt_core.metrics.ope import (
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    frame_errors,
    mean_curves,
    score_sequence,
    score_tracker,
    valid_frames,
)

GT = np.array([[0.0, 0.0, 10.0, 10.0]])  # 0-based; in the file: 1,1,10,10


def test_overlap_and_center_error_inclusive_pixels():
    # extents [0,9] and [5,14]: intersection 5 x 10 = 50, union 150; centres 4.5 and 9.5
    overlap, error = frame_errors(GT, [[5.0, 0.0, 10.0, 10.0]])
    assert overlap == pytest.approx([1 / 3])
    assert error == pytest.approx([5.0])


def test_invalid_rule_applies_to_the_one_based_file_values():
    # in memory x = 0 is file x = 1: valid; x = -1 is file x = 0: invalid; x = -0.5 -> 0.5 valid
    gt = np.array([[0, 0, 10, 10], [-1, 3, 10, 10], [-0.5, 3, 10, 10], [np.nan] * 4, [2, 2, 0, 5]])
    assert valid_frames(gt).tolist() == [True, False, True, False, False]
    overlap, error = frame_errors(gt, gt)
    assert overlap.tolist() == [1.0, -1.0, 1.0, -1.0, -1.0]
    assert error.tolist() == [0.0, -1.0, 0.0, -1.0, -1.0]


def test_invalid_frame_fails_success_but_hits_precision():
    gt = np.array([[0, 0, 10, 10], [-1, 0, 10, 10]])
    c = score_sequence(gt, gt)
    # frame 1: overlap 1 > t for t < 1 (20 of 21 thresholds); frame 2: -1 never counts
    assert c.success.tolist() == [0.5] * 20 + [0.0]
    assert c.auc == pytest.approx(10 / 21)
    assert c.precision.tolist() == [1.0] * 51  # error -1 <= every threshold
    assert c.precision_score == 1.0


def test_success_uses_strict_greater_at_threshold_edge():
    # (0,0,10,5) vs (0,0,10,10): intersection 50, union 100 -> overlap exactly 0.5
    c = score_sequence(GT, [[0.0, 0.0, 10.0, 5.0]])
    assert frame_errors(GT, [[0.0, 0.0, 10.0, 5.0]])[0] == pytest.approx([0.5])
    assert SUCCESS_THRESHOLDS[10] == 0.5
    assert c.success.tolist() == [1.0] * 10 + [0.0] * 11  # 0 .. 0.45 pass, 0.5 does not
    assert c.auc == pytest.approx(10 / 21)


def test_precision_uses_less_or_equal_at_threshold_edge():
    c = score_sequence(GT, [[20.0, 0.0, 10.0, 10.0]])  # centre error exactly 20 px
    assert c.precision[19] == 0.0
    assert c.precision[20] == 1.0
    assert c.precision_score == 1.0
    assert len(c.precision) == len(PRECISION_THRESHOLDS) == 51


def test_nan_rows_missing_rows_and_extra_rows():
    gt = np.array([[0, 0, 10, 10]] * 4, dtype=float)
    # NaN box fails both curves; the 4th frame has no result row: also a failure
    result = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 10, 10]], dtype=float)
    c = score_sequence(gt, result)
    assert c.precision_score == pytest.approx(2 / 4)
    assert c.success[0] == pytest.approx(2 / 4)
    # rows past the ground truth are ignored
    longer = np.vstack([gt, [[100, 100, 5, 5]] * 3])
    assert score_sequence(gt, longer).auc == pytest.approx(20 / 21)


def test_zero_size_result_box_is_a_failed_frame():
    gt = np.array([[0, 0, 10, 10]] * 2, dtype=float)
    result = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=float)  # "1,1,0,0" in the file
    overlap, _ = frame_errors(gt, result)
    assert overlap.tolist() == [1.0, 0.0]
    assert score_sequence(gt, result).success[0] == 0.5


def test_dataset_and_attribute_curves_are_means_of_target_curves():
    perfect = np.array([[0, 0, 10, 10]] * 2, dtype=float)
    half = np.array([[0, 0, 10, 10], [50, 50, 10, 10]], dtype=float)  # 1 of 2 frames lost
    gts = {"A": perfect, "B": perfect, "C": perfect[:1]}
    results = {"A": perfect, "B": half, "C": [[50, 50, 10, 10]]}
    attributes = {"A": ("IV",), "B": ("IV", "OCC"), "C": ("OCC",)}
    scores = score_tracker("T", gts, results, attributes)
    # each target weighs the same: C's single frame counts as much as A's two
    assert scores.sequences["A"].precision_score == 1.0
    assert scores.sequences["B"].precision_score == 0.5
    assert scores.sequences["C"].precision_score == 0.0
    assert scores.overall.precision_score == pytest.approx(0.5)
    assert scores.attributes["IV"].precision_score == pytest.approx(0.75)
    assert scores.attributes["OCC"].precision_score == pytest.approx(0.25)
    assert list(scores.attributes) == ["IV", "OCC"]
    assert scores.overall.auc == pytest.approx(np.mean([scores.sequences[s].auc for s in "ABC"]))
    data = scores.to_json()
    assert set(data) == {"auc", "precision", "attributes", "sequences"}
    assert data["attributes"]["IV"]["precision"] == pytest.approx(0.75)


def test_missing_result_is_named():
    with pytest.raises(KeyError, match="T: no result for B"):
        score_tracker("T", {"A": GT, "B": GT}, {"A": GT})


def test_mean_curves_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        mean_curves([])
