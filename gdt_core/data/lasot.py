"""LaSOT sequences (Fan et al., CVPR 2019) in the benchmark's own layout (``datasets/lasot/``).

``<root>/<class>/<class>-<n>/img/%08d.jpg`` with ``groundtruth.txt`` (one ``x,y,w,h`` line per
frame, 1-based pixels as OTB writes them: its evaluation toolkit is OTB's), and
``full_occlusion.txt`` / ``out_of_view.txt`` (one comma-separated 0/1 per frame). A flat root
(``<root>/<class>-<n>/``, the per-class download unpacked in one place) is read too.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdt_core.boxes import from_otb_file
from gdt_core.data.frame_flags import FrameFlagsError, read_frame_flags
from gdt_core.data.otb import OTBDataError, Sequence, read_ground_truth_file

_NAME = re.compile(r"^(?P<category>.+)-(?P<index>\d+)$")


def _name_parts(name: str) -> tuple[str, int] | None:
    """``<class>-<n>`` as ``(class, n)``; ``None`` for another name."""
    match = _NAME.match(name)
    return (match["category"], int(match["index"])) if match else None


class LaSOTDataError(ValueError):
    """Bad LaSOT input: an unknown sequence, missing or inconsistent files."""


class LaSOTSequence(Sequence):
    """One LaSOT video: frames, 0-based ground truth and the per-frame visibility flags."""

    def __init__(
        self,
        name: str,
        frame_paths: list[Path],
        ground_truth: np.ndarray,
        full_occlusion: np.ndarray,
        out_of_view: np.ndarray,
    ) -> None:
        super().__init__(name, frame_paths, ground_truth)
        self.full_occlusion = full_occlusion
        self.out_of_view = out_of_view

    @property
    def category(self) -> str:
        parts = _name_parts(self.name)
        if parts is None:
            raise LaSOTDataError(f"{self.name!r} is not a LaSOT sequence name (<class>-<number>)")
        return parts[0]

    @property
    def visible(self) -> np.ndarray:
        """Frames where the target is in view and not fully occluded (what LaSOT scores)."""
        return (self.full_occlusion == 0) & (self.out_of_view == 0)


def sequence_dir(root: str | Path, name: str) -> Path:
    """The folder of sequence ``<class>-<n>`` under ``root`` (nested or flat layout)."""
    match = _NAME.match(name)
    if match is None:
        raise LaSOTDataError(f"{name!r} is not a LaSOT sequence name (<class>-<number>)")
    root = Path(root)
    for path in (root / match["category"] / name, root / name):
        if path.is_dir():
            return path
    raise LaSOTDataError(
        f"{root / match['category'] / name}: sequence folder not found (nor {root / name})"
    )


def lasot_sequence_names(root: str | Path) -> list[str]:
    """Every ``<class>-<n>`` folder with a ``groundtruth.txt`` under ``root``, sorted by class
    then number; an error where there is none."""
    root = Path(root)
    if not root.is_dir():
        raise LaSOTDataError(f"{root}: LaSOT root folder not found")
    found = {p.parent.name for p in root.glob("*/groundtruth.txt")}
    found |= {p.parent.name for p in root.glob("*/*/groundtruth.txt")}
    parts = {n: p for n in found if (p := _name_parts(n)) is not None}
    if not parts:
        raise LaSOTDataError(f"{root}: no LaSOT sequence (<class>-<n>/groundtruth.txt) found")
    return sorted(parts, key=parts.__getitem__)


def load_lasot_sequence(root: str | Path, name: str) -> LaSOTSequence:
    """Sequence ``name`` (``airplane-1``) of the LaSOT download at ``root``."""
    folder = sequence_dir(root, name)
    gt_path = folder / "groundtruth.txt"
    try:
        raw = read_ground_truth_file(gt_path)
    except OTBDataError as exc:
        raise LaSOTDataError(str(exc)) from None
    frames = [folder / "img" / f"{k:08d}.jpg" for k in range(1, len(raw) + 1)]
    missing = [p for p in frames if not p.is_file()]
    if missing:
        raise LaSOTDataError(
            f"{missing[0]}: missing image ({len(missing)} of {len(frames)} frames of {name} "
            f"missing; groundtruth.txt has {len(raw)} lines)"
        )
    try:
        occlusion = read_frame_flags(folder / "full_occlusion.txt", len(raw))
        out_of_view = read_frame_flags(folder / "out_of_view.txt", len(raw))
    except FrameFlagsError as exc:
        raise LaSOTDataError(str(exc)) from None
    return LaSOTSequence(name, frames, from_otb_file(raw), occlusion, out_of_view)
