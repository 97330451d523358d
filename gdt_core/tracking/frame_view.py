"""A tracking frame as a picture: ground truth and trackers' boxes drawn on one OTB frame."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from gdt_core.data.otb import Sequence

GROUND_TRUTH = "ground truth"
# BGR: ground truth white, then trackers in clearly different colours
PALETTE = ((255, 255, 255), (0, 0, 255), (0, 200, 0), (255, 128, 0), (0, 215, 255), (255, 0, 255))


def draw_boxes(
    image: np.ndarray, boxes: Mapping[str, np.ndarray], scale: int = 1, caption: str = ""
) -> np.ndarray:
    """``image`` (BGR or grey) enlarged ``scale`` times, each 0-based ``x, y, w, h`` box drawn
    in its own colour with a legend (labels in order; NaN boxes are left out)."""
    canvas = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    thickness = max(1, scale)
    for index, (label, box) in enumerate(boxes.items()):
        colour = PALETTE[index % len(PALETTE)]
        b = np.asarray(box, dtype=np.float64).ravel()
        if np.isfinite(b).all():
            x, y, w, h = (int(round(v * scale)) for v in b)
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, thickness)
        _label(canvas, label, (6, 16 + 18 * index), colour)
    if caption:
        _label(canvas, caption, (6, canvas.shape[0] - 8), PALETTE[0])
    return canvas


def _label(canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple) -> None:
    """``text`` at ``origin`` (its baseline's left end) on a black plate, readable anywhere."""
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (w, h), base = cv2.getTextSize(text, font, size, 1)
    x, y = origin
    cv2.rectangle(canvas, (x - 3, y - h - 3), (x + w + 3, y + base + 1), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x, y), font, size, colour, 1, cv2.LINE_AA)


def save_tracking_frame(
    sequence: Sequence,
    results: Mapping[str, np.ndarray],
    index: int,
    path: str | Path,
    scale: int = 1,
) -> Path:
    """Frame ``index`` (0-based, into the tracked frames) of ``sequence`` with its ground truth
    and each tracker's result box of that frame, written as an image file."""
    if not 0 <= index < len(sequence):
        raise IndexError(f"{sequence.name}: frame {index} outside 0..{len(sequence) - 1}")
    boxes = {GROUND_TRUTH: sequence.ground_truth[index]}
    boxes.update({label: result[index] for label, result in results.items()})
    caption = f"{sequence.name} frame {index + 1}/{len(sequence)}"
    picture = draw_boxes(sequence.frame(index), boxes, scale, caption)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), picture):
        raise OSError(f"{path}: cannot write image")
    return path
