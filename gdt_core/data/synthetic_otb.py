"""Generated OTB-format sequences: a textured object moving over a cluttered background.

Used by tests, the demo and benchmarks where real OTB data is not needed. The output is a real
OTB folder (``<out_dir>/<name>/img/%04d.jpg`` + ``groundtruth_rect.txt``, 1-based ``x,y,w,h``)
read back with :func:`gdt_core.data.otb.load_sequence_dir`. Deterministic for a seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gdt_core.boxes import to_otb_file
from gdt_core.data.box_file import write_box_file


def _background(rng: np.random.Generator, width: int, height: int, clutter: int) -> np.ndarray:
    """Smooth colour noise plus ``clutter`` random filled rectangles and circles."""
    coarse = rng.integers(40, 200, size=(max(2, height // 16), max(2, width // 16), 3))
    image = cv2.resize(coarse.astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(clutter):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(4, max(5, min(width, height) // 6)))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + size, y + size // 2 + 2), colour, -1)
        else:
            cv2.circle(image, (x, y), size // 2 + 1, colour, -1)
    return image


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A distinctive object: a coloured checkerboard with a bright border and noise."""
    cells = rng.integers(0, 256, size=(4, 4, 3)).astype(np.uint8)
    texture = cv2.resize(cells, (width, height), interpolation=cv2.INTER_NEAREST)
    noise = rng.integers(-20, 21, size=texture.shape)
    texture = np.clip(texture.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    cv2.rectangle(texture, (0, 0), (width - 1, height - 1), (255, 255, 255), 2)
    return texture


def synthetic_track(
    num_frames: int,
    seed: int,
    size: tuple[int, int],
    object_size: tuple[int, int],
    scale_change: float = 0.0,
) -> np.ndarray:
    """0-based integer boxes ``(num_frames, 4)`` of a smooth path that stays inside the image."""
    rng = np.random.default_rng(seed)
    width, height = size
    t = np.arange(num_frames, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    period = rng.uniform(40, 80, size=2)
    scale = 1.0 + scale_change * np.sin(2 * np.pi * t / max(num_frames, 2))
    w = np.maximum(4, np.round(object_size[0] * scale))
    h = np.maximum(4, np.round(object_size[1] * scale))
    cx = width / 2 + (width / 2 - w / 2 - 2) * 0.8 * np.sin(2 * np.pi * t / period[0] + phase[0])
    cy = height / 2 + (height / 2 - h / 2 - 2) * 0.8 * np.sin(2 * np.pi * t / period[1] + phase[1])
    x = np.clip(np.round(cx - w / 2), 0, width - w)
    y = np.clip(np.round(cy - h / 2), 0, height - h)
    return np.stack([x, y, w, h], axis=1)


def write_synthetic_sequence(
    out_dir: str | Path,
    name: str,
    num_frames: int,
    seed: int,
    size: tuple[int, int] = (160, 120),
    object_size: tuple[int, int] = (24, 20),
    grayscale: bool = False,
    clutter: int = 30,
    scale_change: float = 0.0,
    noise: float = 4.0,
) -> Path:
    """Write an OTB folder ``<out_dir>/<name>`` of ``num_frames`` frames; returns its path.

    ``size`` is ``(W, H)``; ``object_size`` ``(w, h)`` at scale 1; ``scale_change`` the relative
    amplitude of a slow size oscillation; ``noise`` the std of per-frame pixel noise. The
    ground truth is exact: the object is pasted at the written integer box.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    width, height = size
    if (
        object_size[0] * (1 + scale_change) >= width
        or object_size[1] * (1 + scale_change) >= height
    ):
        raise ValueError(f"object {object_size} (scale change {scale_change}) too big for {size}")
    rng = np.random.default_rng(seed)
    background = _background(rng, width, height, clutter)
    texture = _texture(rng, *object_size)
    boxes = synthetic_track(num_frames, seed, size, object_size, scale_change)

    folder = Path(out_dir) / name
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for index, (x, y, w, h) in enumerate(boxes.astype(int)):
        frame = background.copy()
        frame[y : y + h, x : x + w] = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)
        jitter = rng.normal(0.0, noise, size=frame.shape)
        frame = np.clip(frame + jitter, 0, 255).astype(np.uint8)
        if grayscale:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        path = folder / "img" / f"{index + 1:04d}.jpg"
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"{path}: cannot write image")
    write_box_file(folder / "groundtruth_rect.txt", to_otb_file(boxes))
    return folder


def write_synthetic_otb_set(
    out_dir: str | Path,
    names: list[str],
    num_frames: int,
    seed: int = 0,
    attributes: tuple[str, ...] = ("IV", "SV", "OCC", "DEF", "BC"),
    absent: tuple[str, ...] = (),
    **sequence_options: Any,
) -> Path:
    """A generated OTB root: ``names`` as sequences plus their sequence table; returns the table.

    The table (``<out_dir>/sequences.csv``, the columns of ``datasets/otb/sequences.csv``) is
    what ``gdt-flow evaluate --sequence-table`` reads for targets outside OTB-100; each target
    gets one of ``attributes`` in turn (each a space-separated list) so that per-attribute
    scores exist. ``absent`` names are listed in the table but not written (a partial OTB
    copy). ``sequence_options`` go to :func:`write_synthetic_sequence` (size, object_size, ...).
    """
    rows = ["name,start_frame,end_frame,anno_begin,gt_lines,cvpr13,tb50,attributes"]
    for index, name in enumerate([*names, *absent]):
        if name not in absent:
            write_synthetic_sequence(out_dir, name, num_frames, seed + index, **sequence_options)
        attribute = attributes[index % len(attributes)]
        rows.append(f"{name},1,{num_frames},1,{num_frames},1,0,{attribute}")
    table = Path(out_dir) / "sequences.csv"
    table.write_text("\n".join(rows) + "\n")
    return table
