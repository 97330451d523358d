"""OpenCV's CSRT, KCF and MIL trackers behind the :class:`~gdt_core.tracking.interface.Tracker`
interface.

Boxes stay 0-based ``(x, y, w, h)`` as everywhere in memory (OpenCV is 0-based too; OTB's
1-based files are converted only by the readers/writers in ``boxes.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from gdt_core.network.images import ensure_bgr

# Looked up when a tracker is made, not at import: CSRT and KCF live in opencv-contrib, and
# an OpenCV build without them (e.g. plain opencv-python-headless) must still run GDT.
_CLASSES = {"csrt": "TrackerCSRT", "kcf": "TrackerKCF", "mil": "TrackerMIL"}
BASELINES = tuple(_CLASSES)


def _create(name: str):
    cls = getattr(cv2, _CLASSES[name], None)
    if cls is None:
        raise RuntimeError(
            f"OpenCV tracker '{name}' needs cv2.{_CLASSES[name]}, which this OpenCV "
            f"({cv2.__version__}) lacks: install opencv-contrib-python-headless"
        )
    return cls.create()


class OpenCVTracker:
    """One OpenCV tracker; ``update`` returns the last box and score 0 when OpenCV loses it."""

    def __init__(self, name: str) -> None:
        if name not in _CLASSES:
            raise ValueError(f"unknown OpenCV tracker '{name}' (choose from {list(BASELINES)})")
        self.name = name
        self._tracker = None
        self._box = np.zeros(4)

    def init(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = (float(v) for v in box)
        if not (np.isfinite([x, y, w, h]).all() and w >= 2 and h >= 2):
            raise ValueError("initial box must be finite and at least 2x2 pixels")
        tracker = _create(self.name)
        tracker.init(ensure_bgr(image), tuple(int(round(v)) for v in (x, y, w, h)))
        self._tracker = tracker
        self._box = np.array([x, y, w, h])

    def update(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        if self._tracker is None:
            raise RuntimeError(f"{self.name}: update() called before init()")
        found, rect = self._tracker.update(ensure_bgr(image))
        if found:
            self._box = np.asarray(rect, dtype=np.float64)
        return self._box.copy(), float(found)
