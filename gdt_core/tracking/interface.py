"""The tracker interface (got10k / OpenCV style) and one-pass evaluation of one sequence.

A tracker is ``init(image, box)`` then ``update(image) -> (box, score)``, boxes ``(x, y, w, h)``
in 0-based pixels, images BGR ``uint8`` ``(H, W, 3)`` as OpenCV reads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Tracker(Protocol):
    """What every tracker (GDT and the OpenCV baselines) implements."""

    name: str

    def init(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None: ...

    def update(self, image: np.ndarray) -> tuple[np.ndarray, float]: ...


class FrameSource(Protocol):
    """What OPE needs of a sequence: its frames (lazily) and the first frame's box."""

    name: str
    ground_truth: np.ndarray  # (N, 4) 0-based; NaN rows allowed

    def __len__(self) -> int: ...

    def frame(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class OPEResult:
    """One tracker on one sequence: a box per frame (frame 1 = the initial box)."""

    sequence: str
    boxes: np.ndarray  # (N, 4) 0-based
    scores: np.ndarray  # (N,) tracker confidence; NaN for frame 1
    seconds: float  # tracking time (init + updates), image decoding excluded

    @property
    def fps(self) -> float:
        return len(self.boxes) / self.seconds if self.seconds > 0 else float("inf")


class OPEInterrupted(RuntimeError):
    """A frame could not be read or tracked. ``partial`` holds the frames before it (frame 1
    included), ``index`` the 0-based index of the one that failed; the message is its cause's."""

    def __init__(self, partial: OPEResult, index: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.partial = partial
        self.index = index


def track_frames(
    tracker: Tracker,
    frames: Iterable[np.ndarray],
    box: Sequence[float],
    name: str = "",
    progress: Callable[[int], None] | None = None,
) -> OPEResult:
    """Init ``tracker`` on the first of ``frames`` with ``box`` (0-based), update it on every
    later frame as they come (a video, a camera). A later frame that cannot be read or
    tracked raises :class:`OPEInterrupted` with what was tracked before it; ``progress``
    gets the number of frames done."""
    stream = iter(frames)
    boxes = [np.asarray(box, dtype=np.float64)]
    scores = [np.nan]
    image = next(stream)  # frame 1: its errors are the caller's to report
    start = time.perf_counter()
    tracker.init(image, tuple(boxes[0]))
    spent = time.perf_counter() - start
    while True:
        try:
            image = next(stream)
            start = time.perf_counter()
            found, score = tracker.update(image)
        except StopIteration:
            break
        except Exception as exc:
            partial = OPEResult(name, np.array(boxes), np.array(scores), spent)
            raise OPEInterrupted(partial, len(boxes), exc) from exc
        spent += time.perf_counter() - start
        boxes.append(np.asarray(found, dtype=np.float64))
        scores.append(score)
        if progress is not None:
            progress(len(boxes))
    return OPEResult(name, np.array(boxes), np.array(scores, dtype=np.float64), spent)


def run_ope(
    tracker: Tracker,
    sequence: FrameSource,
    progress: Callable[[int, int], None] | None = None,
) -> OPEResult:
    """One-pass evaluation: init on frame 1's ground truth, update on every later frame. A
    later frame that fails raises :class:`OPEInterrupted` with what was tracked before it."""
    n = len(sequence)
    frames = (sequence.frame(i) for i in range(n))
    done = (lambda k: progress(k, n)) if progress is not None else None
    return track_frames(tracker, frames, sequence.ground_truth[0], sequence.name, done)
