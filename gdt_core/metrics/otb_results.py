"""Tracker results in the common OTB format: ``<results>/<Tracker>/<Seq>.txt``.

One ``x,y,w,h`` line per tracked frame (1-based in the file, 0-based in memory), frame 1 =
the initial box; NaN rows (no box reported) are allowed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdt_core.boxes import from_otb_file, to_otb_file
from gdt_core.data.box_file import read_box_file, write_box_file


def result_path(results_dir: str | Path, tracker: str, sequence: str) -> Path:
    """``<results_dir>/<tracker>/<sequence>.txt``."""
    return Path(results_dir) / tracker / f"{sequence}.txt"


def read_result(path: str | Path) -> np.ndarray:
    """0-based ``(N, 4)`` boxes of one result file (NaN rows kept)."""
    return from_otb_file(read_box_file(path))


def write_result(path: str | Path, boxes: np.ndarray) -> None:
    """Write 0-based boxes as a 1-based OTB result file."""
    write_box_file(path, to_otb_file(boxes))


def find_trackers(results_dir: str | Path, pattern: str = "*.txt") -> list[str]:
    """Names of the tracker folders under ``results_dir`` holding a file that matches
    ``pattern`` (GOT-10k's layout: ``*/*.txt``)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: results folder not found")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob(pattern)))
