"""GOT-10k's scores as its toolkit computes them (``got10k/experiments/got10k.py``, ``report``
on the val split; ``got10k/utils/metrics.py``, ``rect_iou``).

* Per frame, from frame 2 on, the continuous IoU of the result and the ground truth, both
  first clipped to the image (``bound`` = ``meta_info.ini``'s resolution): ``x, y`` into
  ``[0, W] x [0, H]``, then ``w, h`` into what is left of the image.
* Only frames where the target is visible (``cover.label > 0``) are scored.
* A data set's IoUs are pooled over all its frames (a long video weighs more): AO = their
  mean, SR@t = the share above t (0.5 and 0.75), the success curve over 101 thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdt_core.boxes import as_boxes

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _bounded(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    b = boxes.copy()
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b


def bounded_iou(a: np.ndarray, b: np.ndarray, bound: tuple[float, float] | None) -> np.ndarray:
    """The toolkit's ``rect_iou``: continuous IoU, both boxes clipped to ``bound = (W, H)``."""
    a, b = as_boxes(a), as_boxes(b)
    if bound is not None:
        a, b = _bounded(a, *bound), _bounded(b, *bound)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def got10k_ious(
    ground_truth: np.ndarray,
    result: np.ndarray,
    visible: np.ndarray,
    bound: tuple[float, float] | None,
) -> np.ndarray:
    """The IoUs GOT-10k scores for one video: frames 2.. where ``visible``."""
    gt, res = as_boxes(ground_truth), as_boxes(result)
    if res.shape != gt.shape:
        raise ValueError(f"result has {len(res)} rows, the ground truth {len(gt)}")
    keep = np.asarray(visible, dtype=bool)[1:]
    return bounded_iou(res[1:], gt[1:], bound)[keep]


@dataclass(frozen=True)
class GOT10kScores:
    """AO, SR@0.5, SR@0.75 and the success curve of a set of per-frame IoUs."""

    ao: float
    sr50: float
    sr75: float
    success: np.ndarray
    frames: int


def got10k_scores(ious: np.ndarray | Sequence[np.ndarray]) -> GOT10kScores:
    """Scores of one video's IoUs, or of several videos' pooled (the data set's); NaN where
    no frame is scored (the target never visible after frame 1)."""
    if isinstance(ious, np.ndarray):
        pooled = ious.astype(np.float64).ravel()
    else:
        pooled = np.concatenate([np.ravel(i) for i in ious]).astype(np.float64)
    if pooled.size == 0:  # as the toolkit's np.mean of nothing: NaN
        nan = float("nan")
        return GOT10kScores(nan, nan, nan, np.full(len(SUCCESS_THRESHOLDS), nan), 0)
    return GOT10kScores(
        float(np.mean(pooled)),
        float(np.mean(pooled > 0.5)),
        float(np.mean(pooled > 0.75)),
        np.mean(pooled[:, None] > SUCCESS_THRESHOLDS[None], axis=0),
        int(pooled.size),
    )
