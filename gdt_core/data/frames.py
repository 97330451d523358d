"""Frames without ground truth: a video file or a folder of images, read in order.

What a user of a tracker has (pytracking's ``run_video.py``, pysot's ``demo.py --video``):
frames and a box around the target in one of them. :func:`video_frames` reads anything
OpenCV's ``VideoCapture`` opens (``.mp4``, ``.avi``, an image-sequence pattern such as
``img/%04d.jpg``); :func:`folder_frames` the ``.jpg``/``.png`` files of a folder in natural
order (``2.jpg`` before ``10.jpg``). Both start at 1-based frame ``start`` and yield
``(number, BGR uint8 frame)``; what cannot be read is a :class:`FrameSourceError` naming the
file and the frame, raised when that frame is reached (the frames before it have been
yielded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class FrameSourceError(ValueError):
    """A video or image folder that cannot be read; the message names the file and frame."""


def _natural(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def folder_images(folder: str | Path) -> list[Path]:
    """The ``.jpg``/``.png`` images of ``folder`` in natural order; an error if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FrameSourceError(f"{folder}: not a folder")
    images = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural
    )
    if not images:
        raise FrameSourceError(f"{folder}: no .jpg or .png images")
    return images


def folder_frames(folder: str | Path, start: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """The images of ``folder`` from the ``start``-th (1-based)."""
    images = folder_images(folder)
    if start > len(images):
        raise FrameSourceError(f"{folder}: {len(images)} images, none at --start-frame {start}")
    for number, path in enumerate(images[start - 1 :], start=start):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameSourceError(f"{path}: unreadable image (frame {number})")
        yield number, image


def video_frame_count(path: str | Path) -> int:
    """The number of frames the video's container announces (0 where it does not say)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
    finally:
        capture.release()


def video_frames(path: str | Path, start: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """The frames of the video at ``path`` from the ``start``-th (1-based). A frame that
    cannot be decoded before the end the container announces is an error, not the end."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise FrameSourceError(f"{path}: OpenCV cannot open this video")
    try:
        announced = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        number = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            number += 1
            if number >= start:
                yield number, frame
        if number < start:
            raise FrameSourceError(
                f"{path}: ends after {number} frames, before --start-frame {start}"
            )
        if number < announced:
            raise FrameSourceError(
                f"{path}: frame {number + 1} cannot be decoded (the video announces {announced})"
            )
    finally:
        capture.release()
