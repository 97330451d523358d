"""Sample boxes around the target (sections 3.2-3.3, section 4): all seeded by a numpy Generator.

* positives: translated copies of the target with IoU >= ``min_iou`` (the target first); no
  scale jitter (it lowered the AUC: docs/lab-notes);
* far negatives: same-size boxes whose centres lie ``min_dist``..``max_dist`` box sizes away,
  inside the frame's working region where one is given (:func:`working_region`);
* near negatives (:func:`sample_near_negatives`): shifted *and scaled* boxes with a low IoU,
  boxes inside the target included. With far negatives alone nothing says that a box smaller
  than the target (all target texture) is worse than the target: stage 1 then follows the
  box down, frame after frame (see :mod:`gdt_core.tracking.tracker`);
* candidates X: centres within a search radius, at ``num_scales`` scales, aspect ratio fixed
  (section 4), the scale step grown per footnote 7 until the box changes by >= 1 pixel.

Boxes are 0-based ``(x, y, w, h)`` float arrays; they may extend past the image border (the
feature extractors pad with the mean colour).
"""

from __future__ import annotations

import numpy as np

from gdt_core.boxes import as_boxes, box_iou, centers
from gdt_core.config import CandidatesConfig, SamplingConfig

Bounds = tuple[float, float, float, float]  # (x0, y0, x1, y1)

MIN_BOX_SIDE = 2.0  # a side below this cannot change by a whole pixel at any scale step
_MAX_ROUNDS = 50


def _box_from(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    return np.concatenate([center - size / 2, size], axis=-1)


def _inside(boxes: np.ndarray, bounds: Bounds | None) -> np.ndarray:
    """Which ``boxes`` lie wholly inside ``bounds`` ``(x0, y0, x1, y1)`` (all when None)."""
    if bounds is None:
        return np.ones(len(boxes), dtype=bool)
    x0, y0, x1, y1 = bounds
    lo = (boxes[:, 0] >= x0) & (boxes[:, 1] >= y0)
    return lo & (boxes[:, 0] + boxes[:, 2] <= x1) & (boxes[:, 1] + boxes[:, 3] <= y1)


def sample_positives(
    rng: np.random.Generator, box: np.ndarray, n: int, min_iou: float
) -> np.ndarray:
    """``n`` translated copies of ``box`` with continuous IoU >= ``min_iou``; row 0 is ``box``."""
    box = as_boxes(box)[0]
    spread = max(1.0 - min_iou, 0.0)  # translation range (x size) that rejection then trims
    kept = [box[None]]
    count = 1
    for _ in range(_MAX_ROUNDS):
        if count >= n:
            break
        m = 4 * (n - count)
        shift = rng.uniform(-spread, spread, size=(m, 2)) * box[2:]
        cand = _box_from(centers(box) + shift, np.broadcast_to(box[2:], (m, 2)))
        ok = cand[box_iou(cand, box[None]) >= min_iou]
        kept.append(ok)
        count += len(ok)
    out = np.concatenate(kept)[:n]
    if len(out) < n:  # min_iou ~ 1: only the box itself qualifies
        out = np.concatenate([out, np.repeat(box[None], n - len(out), axis=0)])
    return out


def sample_far_negatives(
    rng: np.random.Generator,
    box: np.ndarray,
    n: int,
    s: SamplingConfig,
    image_size: tuple[int, int],
    bounds: Bounds | None = None,
) -> np.ndarray:
    """``n`` boxes of ``box``'s size whose centres lie ``s.negative_center_distance`` ..
    ``s.negative_max_distance`` box sizes from its centre (section 3.2: "far"), measured per
    axis (offset ``r (w cos a, h sin a)``): any aspect ratio then gives the same overlaps,
    IoU <= 0.14 at a distance of 0.75, and a tall pedestrian's negatives stay as near
    sideways as a square target's. Preferred, in this order: boxes
    inside ``bounds`` ``(x0, y0, x1, y1)`` (the frame's working region,
    :func:`working_region`) with their centre in the ``(width, height)`` image, boxes inside
    ``bounds``, boxes centred in the image."""
    box = as_boxes(box)[0]
    m = 16 * n
    min_dist, max_dist = s.negative_center_distance, s.negative_max_distance
    radius = rng.uniform(min_dist, max(max_dist, min_dist), size=m)
    angle = rng.uniform(0, 2 * np.pi, size=m)
    unit = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    c = centers(box) + unit * radius[:, None] * box[2:]
    out = _box_from(c, np.broadcast_to(box[2:], (m, 2)))
    inside = (c[:, 0] >= 0) & (c[:, 1] >= 0) & (c[:, 0] < image_size[0]) & (c[:, 1] < image_size[1])
    within = _inside(out, bounds)
    rank = np.where(within, 0, 2) + np.where(inside, 0, 1)
    return out[np.argsort(rank, kind="stable")[:n]]


def sample_near_negatives(
    rng: np.random.Generator,
    box: np.ndarray,
    n: int,
    s: SamplingConfig,
    bounds: Bounds | None = None,
) -> np.ndarray:
    """``n`` boxes near ``box`` that are not it: sizes ``box``'s x ``[1/scale, scale]``
    (``s.near_negative_scale``; log-uniform, aspect kept), centres shifted up to
    ``s.near_negative_shift`` box sizes per axis (small: mostly the target's own centre at
    other scales), IoU with ``box`` <= ``s.near_negative_max_iou``, inside ``bounds`` ``(x0,
    y0, x1, y1)`` where given (a centre that would put its box past ``bounds`` is moved in
    just enough, so that larger boxes are not rejected more often than smaller ones: the
    sizes stay symmetric in log scale). These
    are the shifts and scales a candidate can take off the target (a box inside the target
    included): without them nothing in the Gaussians says that a box smaller or larger than
    the target is worse than the target; with more smaller than larger ones, larger boxes
    win. Fewer than ``n`` qualify only when the IoU bound and the scale leave nothing (then
    the rest are far boxes: caller's choice)."""
    box = as_boxes(box)[0]
    max_iou, max_scale, max_shift = (
        s.near_negative_max_iou,
        s.near_negative_scale,
        s.near_negative_shift,
    )
    kept: list[np.ndarray] = []
    count = 0
    for _ in range(_MAX_ROUNDS):
        if count >= n:
            break
        m = 8 * n
        size = box[2:] * np.exp(rng.uniform(-1, 1, size=(m, 1)) * np.log(max_scale))
        centre = centers(box) + rng.uniform(-1, 1, size=(m, 2)) * box[2:] * max_shift
        if bounds is not None:
            lo, hi = np.array(bounds[:2]) + size / 2, np.array(bounds[2:]) - size / 2
            centre = np.clip(centre, lo, np.maximum(hi, lo))
        cand = _box_from(centre, size)
        ok = (box_iou(cand, box[None]) <= max_iou) & _inside(cand, bounds)
        kept.append(cand[ok])
        count += int(ok.sum())
    return np.concatenate(kept)[:n] if kept else np.empty((0, 4))


def working_region(
    box: np.ndarray, candidates: np.ndarray, positive_iou: float, max_dist: float
) -> Bounds:
    """A frame's working region ``(x0, y0, x1, y1)``: every candidate, every positive that
    :func:`sample_positives` may draw around any of them, and the negative ring
    (``max_dist`` box sizes) around the previous ``box``. The pooled path convolves it once
    per frame; the frame's negatives are drawn inside it (both paths alike)."""
    box, cand = as_boxes(box)[0], as_boxes(candidates)
    # IoU >= t allows a shift of at most (1 - t) / (1 + t) box sizes along one axis
    spread = max(1.0 - positive_iou, 0.0) / (1.0 + positive_iou) * cand[:, 2:]
    centre, ring = centers(box)[0], (max_dist + 0.5) * box[2:]
    lo = np.minimum((cand[:, :2] - spread).min(0), centre - ring)
    hi = np.maximum((cand[:, :2] + cand[:, 2:] + spread).max(0), centre + ring)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def scale_step(box: np.ndarray, step: float) -> float:
    """Footnote 7: ``step`` grown in increments of itself until the smaller side of ``box``
    changes by at least one pixel when scaled up or down by it."""
    side = float(min(as_boxes(box)[0, 2:]))
    if not side >= MIN_BOX_SIDE - 1e-9:
        raise ValueError(f"box side {side:.3g} px is below the minimum of {MIN_BOX_SIDE} px")
    k = 1
    while side - side / (1 + k * step) < 1.0 - 1e-9:
        k += 1
    return k * step


def scale_factors(box: np.ndarray, num_scales: int, step: float) -> np.ndarray:
    """The pyramid's size factors ``(1 + s)^k``, k centred on 0 (section 4), s per footnote 7.

    Ordered by ``|k|`` (the unchanged size first) so that ties in eq. 5 keep the size.
    """
    k = np.arange(num_scales) - (num_scales - 1) / 2
    return (1 + scale_step(box, step)) ** k[np.argsort(np.abs(k), kind="stable")]


def sample_candidates(rng: np.random.Generator, box: np.ndarray, c: CandidatesConfig) -> np.ndarray:
    """The candidate set X (section 3.3): at each of ``c.num_scales`` scales (step
    ``c.scale_step``, footnote 7), ``c.positions_per_scale`` centres uniform in a disk of
    radius ``c.search_radius`` x sqrt(w h) around the previous centre (the first one at it)."""
    box = as_boxes(box)[0]
    radius = c.search_radius * np.sqrt(box[2] * box[3])
    per_scale = c.positions_per_scale
    out = []
    for factor in scale_factors(box, c.num_scales, c.scale_step):
        r = radius * np.sqrt(rng.uniform(0, 1, per_scale))
        angle = rng.uniform(0, 2 * np.pi, per_scale)
        offset = np.stack([np.cos(angle), np.sin(angle)], axis=1) * r[:, None]
        offset[0] = 0.0
        out.append(
            _box_from(centers(box) + offset, np.broadcast_to(box[2:] * factor, (per_scale, 2)))
        )
    return np.concatenate(out)
