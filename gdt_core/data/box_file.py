"""Text files of boxes, one ``x y w h`` line per frame, as OTB writes them (1-based pixels).

Separators may be commas, tabs or spaces (the OTB files use all three); ``NaN`` values are
kept (invalid frames, lost targets). Values are returned exactly as written: the conversion
to 0-based boxes is :func:`gdt_core.boxes.from_otb_file`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdt_core.files import read_text

_SEPARATORS = re.compile(r"[,\s]+")


class BoxFileError(ValueError):
    """A box file that is missing, empty or has a line that is not four numbers."""


def read_box_file(path: str | Path) -> np.ndarray:
    """``(N, 4)`` float64 boxes as written in ``path``, one per line. Blank lines at the end
    are ignored; a blank line before another box is an error (every line is one frame: it
    would shift every later frame)."""
    path = Path(path)
    text = read_text(path, "box file", BoxFileError)
    rows = []
    blank = 0  # the first blank line not yet followed by a box
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = [f for f in _SEPARATORS.split(line.strip()) if f]
        if not fields:
            blank = blank or lineno
            continue
        if blank:
            raise BoxFileError(
                f"{path}:{blank}: blank line between boxes (one line per frame: remove it, or "
                "write NaN,NaN,NaN,NaN for a frame without a box)"
            )
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        if len(values) != 4:
            raise BoxFileError(f"{path}:{lineno}: expected 4 numbers x,y,w,h, got {line!r}")
        rows.append(values)
    if not rows:
        raise BoxFileError(f"{path}: empty box file (no x,y,w,h line)")
    return np.asarray(rows, dtype=np.float64)


def box_file_text(boxes: np.ndarray) -> str:
    """``(N, 4)`` boxes (already in file coordinates) as ``x,y,w,h`` lines; NaN kept."""
    lines = (",".join(f"{v:.3f}" if np.isfinite(v) else "NaN" for v in row) for row in boxes)
    return "".join(line + "\n" for line in lines)


def write_box_file(path: str | Path, boxes: np.ndarray) -> None:
    """Write ``(N, 4)`` boxes (already in file coordinates) as :func:`box_file_text`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(box_file_text(boxes))
