"""One-pass evaluation (OPE) scores exactly as the OTB benchmark computes them.

Conventions (``../shared/data/README.md``; Wu et al., CVPR 2013 / TPAMI 2015):

* overlap = inclusive-pixel IoU (:func:`gdt_core.boxes.otb_overlap`), centre error = distance
  of the centres ``x + (w-1)/2`` (:func:`gdt_core.boxes.center_error`);
* a frame whose ground truth **as written in the file** (1-based) has a value ``<= 0`` or NaN is
  invalid: overlap -1 and centre error -1, kept in the denominator (a failure in the success
  curve and, by the benchmark's quirk, a hit in the precision curve). In memory boxes are
  0-based, so the test is on :func:`gdt_core.boxes.to_otb_file` of the ground truth;
* success curve: fraction of frames with overlap ``>`` t for t = 0, 0.05, ..., 1; AUC = mean;
* precision curve: fraction of frames with centre error ``<=`` t for t = 0..50 px; score at 20;
* a data set's (or an attribute's) curve is the mean of its targets' curves.

Result rows are scored as written, frame 1 included. As the published results are scored: a
NaN or zero-size result box is simply a failed frame (no carrying forward of the previous
box), result rows past the ground truth are ignored, and missing trailing rows are failures
(the denominator is always the ground-truth length). These choices reproduce the published
results of ``../shared/data/otb-results`` to 0.001 (``tests/test_ope.py``); two steps of the
toolkit's ``calcSeqErrRobust`` do not: carrying the previous box over NaN / zero-size rows,
and overwriting frame 1 with the ground truth (CFWLB's files do not start at it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gdt_core.boxes import as_boxes, center_error, otb_overlap, to_otb_file
from gdt_core.data.otb import ATTRIBUTES

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
"""Overlap thresholds 0:0.05:1 of the success plot."""
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
"""Centre-error thresholds 0:50 px of the precision plot."""
PRECISION_AT_PX = 20
"""The precision score is the precision curve at 20 px."""


@dataclass(frozen=True)
class Curves:
    """A success curve (21 values) and a precision curve (51 values)."""

    success: np.ndarray
    precision: np.ndarray

    @property
    def auc(self) -> float:
        """Success score: the mean of the success curve (area under it)."""
        return float(np.mean(self.success))

    @property
    def precision_score(self) -> float:
        """Precision at 20 px."""
        return float(self.precision[PRECISION_AT_PX])


def valid_frames(ground_truth: np.ndarray) -> np.ndarray:
    """Frames whose ground truth, written 1-based as in the file, has no value ``<= 0``/NaN."""
    return np.all(to_otb_file(ground_truth) > 0, axis=1)


def frame_errors(ground_truth: np.ndarray, result: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame overlap and centre error (length of the ground truth), 0-based boxes.

    Invalid ground-truth frames get -1 for both; frames without a usable result box (NaN,
    missing trailing rows) get NaN, which fails every threshold.
    """
    gt = as_boxes(ground_truth)
    res = np.full_like(gt, np.nan)
    rows = as_boxes(result)[: len(gt)]
    res[: len(rows)] = rows
    valid = valid_frames(gt)
    with np.errstate(invalid="ignore"):
        overlap = np.where(valid, otb_overlap(res, gt), -1.0)
        error = np.where(valid, center_error(res, gt), -1.0)
    return overlap, error


def curves_from_errors(overlap: np.ndarray, error: np.ndarray, frames: int | None = None) -> Curves:
    """Success (``overlap > t``) and precision (``error <= t``) curves over ``frames`` frames
    (default: the frames given; LaSOT counts the frames it dropped as misses)."""
    n = max(len(overlap) if frames is None else frames, 1)
    with np.errstate(invalid="ignore"):
        success = np.count_nonzero(overlap[:, None] > SUCCESS_THRESHOLDS, axis=0) / n
        precision = np.count_nonzero(error[:, None] <= PRECISION_THRESHOLDS, axis=0) / n
    return Curves(success, precision)


def score_sequence(ground_truth: np.ndarray, result: np.ndarray) -> Curves:
    """Curves of one tracker on one target (0-based boxes, ground truth NaN rows allowed)."""
    return curves_from_errors(*frame_errors(ground_truth, result))


def mean_curves(curves: Sequence[Curves]) -> Curves:
    """The data set's curves: the mean of its targets' curves (each target weighs the same)."""
    if not curves:
        raise ValueError("no curves to average")
    return Curves(
        np.mean([c.success for c in curves], axis=0),
        np.mean([c.precision for c in curves], axis=0),
    )


@dataclass(frozen=True)
class TrackerScores:
    """One tracker on a data set: per-target, overall and per-attribute curves."""

    tracker: str
    sequences: dict[str, Curves]
    overall: Curves
    attributes: dict[str, Curves] = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{"auc", "precision", "attributes": {A: {...}}, "sequences": {S: {...}}}``."""

        def numbers(c: Curves) -> dict[str, float]:
            return {"auc": c.auc, "precision": c.precision_score}

        return {
            **numbers(self.overall),
            "attributes": {name: numbers(c) for name, c in self.attributes.items()},
            "sequences": {name: numbers(c) for name, c in self.sequences.items()},
        }


def _order(attribute: str) -> tuple[int, str]:
    """The benchmark's attribute order (IV, SV, OCC, ...), unknown labels last."""
    rank = ATTRIBUTES.index(attribute) if attribute in ATTRIBUTES else len(ATTRIBUTES)
    return rank, attribute


def score_tracker(
    tracker: str,
    ground_truths: Mapping[str, np.ndarray],
    results: Mapping[str, np.ndarray],
    attributes: Mapping[str, Sequence[str]] | None = None,
) -> TrackerScores:
    """Score ``results[seq]`` against ``ground_truths[seq]`` for every target of the set.

    ``attributes`` maps a target to its attribute labels; an attribute's curve averages the
    targets carrying it (attributes no target carries are left out).
    """
    missing = [name for name in ground_truths if name not in results]
    if missing:
        raise KeyError(f"{tracker}: no result for {', '.join(missing)}")
    per_sequence = {name: score_sequence(gt, results[name]) for name, gt in ground_truths.items()}
    by_attribute: dict[str, list[Curves]] = {}
    for name, labels in (attributes or {}).items():
        if name in per_sequence:
            for label in labels:
                by_attribute.setdefault(label, []).append(per_sequence[name])
    return TrackerScores(
        tracker,
        per_sequence,
        mean_curves(list(per_sequence.values())),
        {label: mean_curves(by_attribute[label]) for label in sorted(by_attribute, key=_order)},
    )
