"""Sampling geometry: positives' IoU, negatives' distances, footnote 7's scale steps, X."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gdt_core.boxes import box_iou, centers
from gdt_core.config import load_config
from gdt_core.tracking.sampling import (
    sample_candidates,
    sample_far_negatives,
    sample_near_negatives,
    sample_positives,
    scale_factors,
    scale_step,
    working_region,
)

BOX = np.array([40.0, 30.0, 24.0, 16.0])
SAMPLING, CANDIDATES = load_config().sampling, load_config().candidates
X = replace(CANDIDATES, num_scales=3, scale_step=0.027, search_radius=0.6, positions_per_scale=16)


def far(lo: float, hi: float):
    """The sampling section with far negatives ``lo``..``hi`` box sizes away."""
    return replace(SAMPLING, negative_center_distance=lo, negative_max_distance=hi)


def near(max_iou: float, scale: float, shift: float = 1.0):
    """The sampling section with near negatives of IoU <= ``max_iou``, sizes x 1/scale..scale."""
    return replace(
        SAMPLING,
        near_negative_max_iou=max_iou,
        near_negative_scale=scale,
        near_negative_shift=shift,
    )


def test_positives_overlap_the_target_enough_and_start_with_it():
    pos = sample_positives(np.random.default_rng(0), BOX, 100, 0.7)
    assert pos.shape == (100, 4)
    assert np.array_equal(pos[0], BOX)
    iou = box_iou(pos, BOX[None])
    assert iou.min() >= 0.7
    assert iou[1:].max() < 1.0  # not all copies of the box: real jitter
    assert np.ptp(centers(pos)[:, 0]) > 1.0
    assert np.all(pos[:, 2:] == BOX[2:])  # translated copies: the scale search is X's job


def test_positives_at_iou_one_fall_back_to_the_box():
    pos = sample_positives(np.random.default_rng(0), BOX, 5, 1.0)
    assert np.array_equal(pos, np.repeat(BOX[None], 5, axis=0))


def test_negatives_are_far_same_size_and_inside_when_possible():
    neg = sample_far_negatives(np.random.default_rng(0), BOX, 50, far(1.0, 2.0), (200, 150))
    d = np.linalg.norm((centers(neg) - centers(BOX)) / BOX[2:], axis=1)  # in box sizes
    assert d.min() >= 1.0 - 1e-9 and d.max() <= 2.0 + 1e-9
    assert np.all(neg[:, 2:] == BOX[2:])
    c = centers(neg)
    assert np.all((c >= 0) & (c < [200, 150]))
    assert box_iou(neg, BOX[None]).max() < 0.045  # at 1 box size, worst on a diagonal: 0.0448
    closest = sample_far_negatives(np.random.default_rng(0), BOX, 500, far(0.75, 0.75), (200, 150))
    iou = box_iou(closest, BOX[None])
    assert iou.max() <= 1 / 7 + 1e-9 and iou.max() > 0.13  # 0.25 / 1.75 on an axis


def test_near_negatives_are_shifted_or_scaled_off_the_target():
    rng = np.random.default_rng(0)
    bounds = (0.0, 0.0, 120.0, 90.0)
    neg = sample_near_negatives(rng, BOX, 400, near(0.5, 2.0), bounds)
    assert len(neg) == 400
    assert box_iou(neg, BOX[None]).max() <= 0.5 + 1e-9
    factor = neg[:, 2] / BOX[2]
    np.testing.assert_allclose(neg[:, 3] / BOX[3], factor)  # aspect kept
    assert factor.min() >= 0.5 - 1e-9 and factor.max() <= 2.0 + 1e-9
    assert np.all(np.abs(centers(neg) - centers(BOX)) <= BOX[2:] + 1e-9)  # one box per axis
    assert np.all(neg[:, :2] >= 0) and np.all(neg[:, :2] + neg[:, 2:] <= [120, 90])
    # boxes inside the target (what a shrinking box looks like) are among them
    inside = (neg[:, :2] >= BOX[:2]) & (neg[:, :2] + neg[:, 2:] <= BOX[:2] + BOX[2:])
    assert inside.all(axis=1).sum() >= 5
    # max_iou 0: only boxes shifted clear of the target qualify
    apart = sample_near_negatives(rng, BOX, 20, near(0.0, 1.5), bounds)
    assert len(apart) == 20 and box_iou(apart, BOX[None]).max() == 0.0


def test_near_negatives_with_a_small_shift_are_the_target_at_other_scales():
    bounds = (-100.0, -100.0, 300.0, 300.0)
    neg = sample_near_negatives(np.random.default_rng(3), BOX, 300, near(0.5, 2.0, 0.1), bounds)
    assert len(neg) == 300
    assert np.all(np.abs(centers(neg) - centers(BOX)) <= 0.1 * BOX[2:] + 1e-9)
    factor = neg[:, 2] / BOX[2]
    # IoU <= 0.5 near the same centre leaves only sizes >= ~1.4x or <= ~0.7x, both drawn
    assert np.all((factor >= 1.3) | (factor <= 1 / 1.3))
    assert 0.3 <= (factor > 1).mean() <= 0.7


def test_near_negatives_inside_the_working_region_are_as_often_larger_as_smaller():
    # Rejecting the boxes that leave the region kept 1253 smaller and 747 larger of 2000
    # (larger boxes leave it more often): the Gaussians then learnt "smaller than the target
    # is background" more than "larger", and the box grew (issue 18). Moved inside instead:
    region = working_region(BOX, BOX[None], 0.7, 1.0)
    neg = sample_near_negatives(np.random.default_rng(0), BOX, 2000, near(0.5, 2.0), region)
    assert len(neg) == 2000
    x0, y0, x1, y1 = region
    assert np.all(neg[:, :2] >= [x0, y0]) and np.all(neg[:, :2] + neg[:, 2:] <= [x1, y1])
    larger = int((neg[:, 2] > BOX[2]).sum())
    assert 0.8 <= larger / (2000 - larger) <= 1.25, larger


def test_negatives_near_a_corner_still_come_back():
    corner = np.array([0.0, 0.0, 20.0, 20.0])
    neg = sample_far_negatives(np.random.default_rng(1), corner, 30, far(1.0, 2.0), (60, 60))
    assert len(neg) == 30
    assert np.all(centers(neg) >= 0)


def test_sampling_is_deterministic_for_a_seed():
    a = sample_candidates(np.random.default_rng(5), BOX, X)
    b = sample_candidates(np.random.default_rng(5), BOX, X)
    c = sample_candidates(np.random.default_rng(6), BOX, X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_scale_step_by_hand():
    assert scale_step(np.array([0, 0, 100.0, 200.0]), 0.027) == pytest.approx(0.027)
    # side 20: 20 - 20/1.027 = 0.53 px < 1; 20 - 20/1.054 = 1.02 px -> two steps
    assert scale_step(np.array([0, 0, 20.0, 50.0]), 0.027) == pytest.approx(0.054)


@pytest.mark.parametrize("side", [2.0, 2.5, 3.0, 5.0, 8.0, 13.0, 37.0, 80.0])
def test_footnote7_every_scale_changes_the_box_by_a_pixel(side):
    box = np.array([10.0, 10.0, side, side * 1.7])
    factors = scale_factors(box, 3, 0.027)
    assert factors[0] == 1.0  # the unchanged size first
    changed = np.abs(side * factors[1:] - side)
    assert changed.min() >= 1.0 - 1e-9


def test_scale_step_rejects_sub_two_pixel_boxes():
    with pytest.raises(ValueError, match="minimum"):
        scale_step(np.array([0, 0, 1.0, 10.0]), 0.027)


def test_candidates_three_scales_fixed_aspect_within_radius():
    cands = sample_candidates(np.random.default_rng(0), BOX, X)
    assert cands.shape == (48, 4)
    assert np.array_equal(cands[0], BOX)  # the previous box itself is a candidate
    assert np.allclose(cands[:, 2] / cands[:, 3], 24 / 16)  # aspect ratio of frame 1
    widths = np.unique(np.round(cands[:, 2], 6))
    assert len(widths) == 3
    d = np.linalg.norm(centers(cands) - centers(BOX), axis=1)
    assert d.max() <= 0.6 * np.sqrt(24 * 16) + 1e-9


def _inside(boxes, region):
    x0, y0, x1, y1 = region
    return (
        (boxes[:, 0] >= x0)
        & (boxes[:, 1] >= y0)
        & (boxes[:, 0] + boxes[:, 2] <= x1)
        & (boxes[:, 1] + boxes[:, 3] <= y1)
    )


def test_working_region_holds_candidates_their_positives_and_the_negative_ring():
    rng = np.random.default_rng(2)
    cands = sample_candidates(rng, BOX, X)
    region = working_region(BOX, cands, 0.7, 1.0)
    assert _inside(cands, region).all()
    for cand in cands[::7]:  # positives around any candidate (x* is one of them)
        assert _inside(sample_positives(rng, cand, 40, 0.7), region).all()
    ring = sample_far_negatives(rng, BOX, 200, far(0.75, 1.0), (1000, 1000))  # around the old box
    assert _inside(ring, region).all()
    # ... and nothing more: the ring's extent, 1.5 box sizes from the centre
    assert region[0] == pytest.approx(centers(BOX)[0, 0] - 1.5 * 24)
    assert region[1] == pytest.approx(centers(BOX)[0, 1] - 1.5 * 16)


def test_negatives_stay_inside_the_working_region_when_the_target_moved():
    cands = sample_candidates(np.random.default_rng(3), BOX, X)
    region = working_region(BOX, cands, 0.7, 1.0)
    moved = BOX + [8.0, 5.0, 0.0, 0.0]  # x* off-centre: part of its ring lies outside
    free = sample_far_negatives(np.random.default_rng(4), moved, 500, far(0.75, 1.0), (1000, 1000))
    assert not _inside(free, region).all()
    neg = sample_far_negatives(
        np.random.default_rng(4), moved, 24, far(0.75, 1.0), (1000, 1000), region
    )
    assert _inside(neg, region).all()
    d = np.linalg.norm((centers(neg) - centers(moved)) / BOX[2:], axis=1)
    assert d.min() >= 0.75 - 1e-9 and d.max() <= 1.0 + 1e-9  # still far, same ring
    assert np.ptp(np.arctan2(*(centers(neg) - centers(moved)).T)) > 3.0  # spread around it
