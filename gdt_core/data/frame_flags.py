"""Per-frame label files of LaSOT and GOT-10k: one integer per frame.

LaSOT writes ``full_occlusion.txt`` / ``out_of_view.txt`` as one comma-separated line; GOT-10k
writes ``absence.label`` / ``cover.label`` one value per line. Both are read here, with an
error naming the file and line of the first bad value.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdt_core.files import read_text

_SEPARATORS = re.compile(r"[,\s]+")


class FrameFlagsError(ValueError):
    """A label file that is missing, has a value that is not an allowed integer, or whose
    length is not the sequence's."""


def read_frame_flags(path: str | Path, frames: int, max_value: int = 1) -> np.ndarray:
    """``frames`` integers in ``0..max_value`` from ``path`` (commas, spaces or newlines)."""
    path = Path(path)
    text = read_text(path, "label file", FrameFlagsError)
    values: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for field in (f for f in _SEPARATORS.split(line.strip()) if f):
            if not field.isdigit() or int(field) > max_value:
                raise FrameFlagsError(
                    f"{path}:{lineno}: {field!r} is not an integer in 0..{max_value} "
                    f"(value {len(values) + 1})"
                )
            values.append(int(field))
    if len(values) != frames:
        raise FrameFlagsError(f"{path}: {len(values)} values, but the sequence has {frames} frames")
    return np.asarray(values, dtype=np.int64)
