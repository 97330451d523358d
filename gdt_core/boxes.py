"""Bounding boxes ``(x, y, w, h)``: 0-based pixels in memory, converted only at file edges.

Two overlap conventions live here, each named for its use:

* :func:`box_iou` -- continuous IoU of real-valued boxes, used for sampling (section 3.2-3.3).
* :func:`otb_overlap` -- the OTB benchmark's inclusive-pixel IoU (extents ``[x, x+w-1]``),
  used only for scoring (see ``../shared/data/README.md``).
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | list | tuple


def as_boxes(boxes: ArrayLike) -> np.ndarray:
    """``(N, 4)`` float64 array from one box or many."""
    arr = np.asarray(boxes, dtype=np.float64)
    return arr.reshape(-1, 4)


def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Continuous IoU of boxes ``a`` (N,4) and ``b`` (N,4) or (1,4), broadcast row-wise."""
    a, b = as_boxes(a), as_boxes(b)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def otb_overlap(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """OTB's inclusive-pixel IoU: intersection widths ``min(x2) - max(x1) + 1``, areas ``w*h``."""
    a, b = as_boxes(a), as_boxes(b)
    left = np.maximum(a[:, 0], b[:, 0])
    top = np.maximum(a[:, 1], b[:, 1])
    right = np.minimum(a[:, 0] + a[:, 2] - 1, b[:, 0] + b[:, 2] - 1)
    bottom = np.minimum(a[:, 1] + a[:, 3] - 1, b[:, 1] + b[:, 3] - 1)
    inter = np.clip(right - left + 1, 0, None) * np.clip(bottom - top + 1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def otb_centers(boxes: ArrayLike) -> np.ndarray:
    """OTB's box centre ``(x + (w-1)/2, y + (h-1)/2)``."""
    b = as_boxes(boxes)
    return np.stack([b[:, 0] + (b[:, 2] - 1) / 2, b[:, 1] + (b[:, 3] - 1) / 2], axis=1)


def center_error(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Euclidean distance between OTB centres of ``a`` and ``b``."""
    return np.linalg.norm(otb_centers(a) - otb_centers(b), axis=1)


def centers(boxes: ArrayLike) -> np.ndarray:
    """Continuous box centre ``(x + w/2, y + h/2)`` (sampling geometry)."""
    b = as_boxes(boxes)
    return b[:, :2] + b[:, 2:] / 2


def from_otb_file(boxes: ArrayLike) -> np.ndarray:
    """1-based OTB file boxes -> 0-based in-memory boxes."""
    b = as_boxes(boxes).copy()
    b[:, :2] -= 1
    return b


def to_otb_file(boxes: ArrayLike) -> np.ndarray:
    """0-based in-memory boxes -> 1-based OTB file boxes."""
    b = as_boxes(boxes).copy()
    b[:, :2] += 1
    return b
