"""LaSOT's scores as its evaluation toolkit computes them (``LaSOT_Evaluation_Toolkit``,
``utils/calc_seq_err_robust.m`` and ``utils/eval_tracker.m``): OTB's curves with three changes.

* A result row that is NaN or has a side ``<= 0`` takes the previous row (from frame 2 on,
  where the ground truth has no NaN); frame 1 is the ground truth.
* Frames where the target is absent (``full_occlusion`` or ``out_of_view``) are dropped from
  the numerators but stay in the denominator (every frame of the video): a tracker scores
  nothing there, whatever it reports.
* Normalised precision: centre errors measured in units of the ground truth's width and
  height, thresholds 0, 0.01, ..., 0.5; the score is the curve at 0.20 (the toolkit's
  ``rank_idx = 21``, as for precision at 20 px).

Overlap (inclusive pixels), centre (``x + (w-1)/2``), invalid ground truth (a value ``<= 0``
as written: overlap -1, centre error -1) and the success / precision thresholds are OTB's
(:mod:`gdt_core.metrics.ope`). A data set's curves are the mean of its sequences' curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from gdt_core.boxes import as_boxes, otb_centers, otb_overlap
from gdt_core.metrics.ope import Curves, curves_from_errors, valid_frames

NORM_PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64) / 100
"""Normalised centre-error thresholds 0:0.01:0.5."""
NORM_PRECISION_AT = 20
"""The normalised precision score is the curve at threshold index 20 (0.20)."""


@dataclass(frozen=True)
class LaSOTCurves(Curves):
    """OTB's success (21 values) and precision (51) curves, and normalised precision (51)."""

    norm_precision: np.ndarray

    @property
    def norm_precision_score(self) -> float:
        return float(self.norm_precision[NORM_PRECISION_AT])


def carried_results(ground_truth: np.ndarray, result: np.ndarray) -> np.ndarray:
    """The toolkit's repair of a result: frame 1 = ground truth; an unusable row (NaN, side
    ``<= 0``) = the previous row where the ground truth is finite. Longer results are cut."""
    gt, res = as_boxes(ground_truth), as_boxes(result)
    if len(res) < len(gt):
        raise ValueError(f"result has {len(res)} rows, the ground truth {len(gt)}")
    res = res[: len(gt)].copy()
    res[0] = gt[0]
    for i in range(1, len(res)):
        unusable = np.isnan(res[i]).any() or res[i, 2] <= 0 or res[i, 3] <= 0
        if unusable and np.isfinite(gt[i]).all():
            res[i] = res[i - 1]
    return res


def score_lasot_sequence(
    ground_truth: np.ndarray, result: np.ndarray, visible: np.ndarray
) -> LaSOTCurves:
    """One tracker on one LaSOT video (0-based boxes; ``visible`` per frame)."""
    gt = as_boxes(ground_truth)
    res = carried_results(gt, result)
    keep = np.asarray(visible, dtype=bool)
    if keep.shape != (len(gt),):
        raise ValueError(f"visible has shape {keep.shape}, the ground truth {len(gt)} rows")
    gt, res = gt[keep], res[keep]
    valid = valid_frames(gt)
    offset = otb_centers(res) - otb_centers(gt)
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(valid, otb_overlap(res, gt), -1.0)
        error = np.where(valid, np.linalg.norm(offset, axis=1), -1.0)
        norm_error = np.where(valid, np.linalg.norm(offset / gt[:, 2:], axis=1), -1.0)
    n = len(keep)
    otb = curves_from_errors(overlap, error, frames=n)
    norm = np.count_nonzero(norm_error[:, None] <= NORM_PRECISION_THRESHOLDS, axis=0) / n
    return LaSOTCurves(otb.success, otb.precision, norm)


def mean_lasot_curves(curves: Sequence[LaSOTCurves]) -> LaSOTCurves:
    """The data set's curves: the mean of its videos' curves."""
    if not curves:
        raise ValueError("no curves to average")
    names = [f.name for f in fields(LaSOTCurves)]
    return LaSOTCurves(*(np.mean([getattr(c, n) for c in curves], axis=0) for n in names))
