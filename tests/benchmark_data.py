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
