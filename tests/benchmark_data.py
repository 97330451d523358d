"""Generated LaSOT and GOT-10k videos in the benchmarks' exact layouts, for the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _frames(paths: list[Path]) -> None:
    for k, path in enumerate(paths, start=1):
        cv2.imwrite(str(path), np.full((12, 16, 3), 40 * k % 250, np.uint8))


def write_lasot_video(
    folder: Path, boxes: list[str], occlusion: str | None = None, out_of_view: str | None = None
) -> Path:
    """``folder`` = ``<root>/<class>/<class>-<n>``: ``img/%08d.jpg``, ``groundtruth.txt`` (the
    1-based ``boxes`` lines), the two flag files (default: all 0)."""
    (folder / "img").mkdir(parents=True)
    _frames([folder / "img" / f"{k:08d}.jpg" for k in range(1, len(boxes) + 1)])
    (folder / "groundtruth.txt").write_text("".join(b + "\n" for b in boxes))
    zeros = ",".join("0" * len(boxes))
    (folder / "full_occlusion.txt").write_text(occlusion if occlusion is not None else zeros)
    (folder / "out_of_view.txt").write_text(out_of_view if out_of_view is not None else zeros)
    return folder


def write_got10k_video(
    folder: Path, boxes: list[str], frames: int, cover: str | None, resolution: str = "(16, 12)"
) -> Path:
    """``folder`` = ``<root>/<split>/<seq>``: ``%08d.jpg`` x ``frames``, ``groundtruth.txt``
    (``boxes`` lines), ``cover.label`` and ``absence.label`` (from ``cover``; none when None),
    ``meta_info.ini`` with ``resolution``."""
    folder.mkdir(parents=True)
    _frames([folder / f"{k:08d}.jpg" for k in range(1, frames + 1)])
    (folder / "groundtruth.txt").write_text("".join(b + "\n" for b in boxes))
    if cover is not None:
        (folder / "cover.label").write_text(cover)
        absent = ["1" if v == "0" else "0" for v in cover.split()]
        (folder / "absence.label").write_text("".join(a + "\n" for a in absent))
    (folder / "meta_info.ini").write_text(
        f"[METAINFO]\nurl: https://example.invalid/v\nobject_class: cat\nresolution: {resolution}\n"
    )
    return folder


def lasot_from_synthetic(root: Path, name: str, frames: int, seed: int, hidden=()) -> Path:
    """A generated moving target (:mod:`gdt_core.data.synthetic_otb`) as LaSOT video ``name``
    (``<class>-<n>``) under ``root``; the frames in ``hidden`` (0-based) marked out of view."""
    from gdt_core.data.synthetic_otb import write_synthetic_sequence

    otb = write_synthetic_sequence(root / "_otb", name, frames, seed=seed)
    folder = root / name.rsplit("-", 1)[0] / name
    (folder / "img").mkdir(parents=True)
    for k in range(1, frames + 1):
        (otb / "img" / f"{k:04d}.jpg").rename(folder / "img" / f"{k:08d}.jpg")
    (otb / "groundtruth_rect.txt").rename(folder / "groundtruth.txt")
    flags = ",".join("1" if k in hidden else "0" for k in range(frames))
    (folder / "out_of_view.txt").write_text(flags + "\n")
    (folder / "full_occlusion.txt").write_text(",".join(["0"] * frames) + "\n")
    return folder


def got10k_from_synthetic(split: Path, name: str, frames: int, seed: int, hidden=()) -> Path:
    """A generated moving target as GOT-10k video ``name`` in ``split`` (0-based boxes as
    written, ``cover`` 0 in the frames of ``hidden``, resolution 160 x 120)."""
    from gdt_core.boxes import from_otb_file
    from gdt_core.data.box_file import read_box_file, write_box_file
    from gdt_core.data.synthetic_otb import write_synthetic_sequence

    otb = write_synthetic_sequence(split / "_otb", name, frames, seed=seed, size=(160, 120))
    folder = split / name
    folder.mkdir(parents=True)
    for k in range(1, frames + 1):
        (otb / "img" / f"{k:04d}.jpg").rename(folder / f"{k:08d}.jpg")
    boxes = from_otb_file(read_box_file(otb / "groundtruth_rect.txt"))
    write_box_file(folder / "groundtruth.txt", boxes)
    cover = "".join("0\n" if k in hidden else "8\n" for k in range(frames))
    (folder / "cover.label").write_text(cover)
    (folder / "meta_info.ini").write_text("[METAINFO]\nresolution: (160, 120)\n")
    return folder
