"""Boxes in and out of the tracker: the first box checked, and eq. 5's choice of the new box.

Eq. 5 takes the candidate with the highest score S (eq. 4). ``candidates.top_k`` > 1 takes the
mean of the k best instead (centre; size: geometric mean) and ``candidates.scale_damping``
damps the size change ([open]: README, "Where this implementation departs from the paper");
``top_k=1, scale_damping=1`` is the paper's rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gdt_core.config import CandidatesConfig
from gdt_core.tracking.sampling import MIN_BOX_SIDE


def first_box(box: Sequence[float], width: int, height: int) -> np.ndarray:
    """The box tracking starts from, ``(x, y, w, h)`` 0-based, checked: four finite numbers,
    sides of at least ``MIN_BOX_SIDE`` pixels, some of it inside the ``width x height`` image;
    a ``ValueError`` saying which otherwise."""
    arr = np.asarray(box, dtype=np.float64).ravel()
    if arr.shape != (4,) or not np.isfinite(arr).all():
        raise ValueError(f"initial box must be 4 finite numbers (x, y, w, h), got {box!r}")
    if arr[2] < MIN_BOX_SIDE or arr[3] < MIN_BOX_SIDE:
        raise ValueError(
            f"initial box is too small ({arr[2]:g} x {arr[3]:g} px): width and height "
            f"must be at least {MIN_BOX_SIDE:g} pixels"
        )
    if arr[0] >= width or arr[1] >= height or arr[0] + arr[2] <= 0 or arr[1] + arr[3] <= 0:
        raise ValueError(f"initial box lies outside the {width}x{height} image")
    return arr


def select_box(
    cands: np.ndarray,
    scores: torch.Tensor,
    previous: np.ndarray,
    c: CandidatesConfig,
    image_size: tuple[int, int],
) -> tuple[np.ndarray, int]:
    """The new box from the candidates' scores, and the best candidate's index: eq. 5's
    arg-max, or with ``c.top_k`` > 1 the mean of the k best (:func:`_mean_box`), its size
    change from ``previous`` damped by ``c.scale_damping`` (:func:`_damped`); kept
    reachable in the ``(width, height)`` image."""
    top = torch.topk(scores, min(c.top_k, len(scores))).indices.cpu().numpy()
    box = _damped(_mean_box(cands[top]), previous, c.scale_damping)
    return _keep_reachable(box, *image_size), int(top[0])


def _mean_box(boxes: np.ndarray) -> np.ndarray:
    """The mean centre and the geometric-mean size of ``boxes`` (one box: itself)."""
    centre = (boxes[:, :2] + boxes[:, 2:] / 2).mean(0)
    wh = np.exp(np.log(boxes[:, 2:]).mean(0))
    return np.concatenate([centre - wh / 2, wh])


def _damped(box: np.ndarray, previous: np.ndarray, damping: float) -> np.ndarray:
    """``box`` with its size moved from ``previous``'s only by the factor ``(size / previous
    size)^damping`` (the centre kept): the scale change damped."""
    if damping == 1.0:
        return box
    centre = box[:2] + box[2:] / 2
    wh = previous[2:] * (box[2:] / previous[2:]) ** damping
    return np.concatenate([centre - wh / 2, wh])


def _keep_reachable(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Keep the centre inside the image and the sides >= ``MIN_BOX_SIDE`` (aspect kept), so a
    target leaving the frame is searched for at the border instead of drifting away."""
    x, y, w, h = box
    cx = float(np.clip(x + w / 2, 0, width))
    cy = float(np.clip(y + h / 2, 0, height))
    if min(w, h) < MIN_BOX_SIDE:
        w, h = (
            (MIN_BOX_SIDE, h * MIN_BOX_SIDE / w) if w <= h else (w * MIN_BOX_SIDE / h, MIN_BOX_SIDE)
        )
    return np.array([cx - w / 2, cy - h / 2, w, h])
