"""GOT-10k sequences (Huang et al., TPAMI 2019) in the benchmark's layout (``datasets/got10k/``).

``<root>/<split>/<seq>/%08d.jpg`` with ``groundtruth.txt`` (``x,y,w,h`` per frame; on the test
split the first frame's only), ``absence.label`` and ``cover.label`` (one value per line:
0/1 and 0..8, 0 = not visible) and ``meta_info.ini`` (``resolution: (W, H)`` among others);
``<root>/<split>/list.txt`` lists the split's sequences. Boxes are used as written: GOT-10k's
toolkit hands them to trackers and scores them unchanged (0-based, continuous IoU).
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import numpy as np

from gdt_core.data.frame_flags import FrameFlagsError, read_frame_flags
from gdt_core.data.otb import OTBDataError, Sequence, read_ground_truth_file

SPLITS = ("train", "val", "test")
MAX_COVER = 8


class GOT10kDataError(ValueError):
    """Bad GOT-10k input: an unknown split or sequence, missing or inconsistent files."""


class GOT10kSequence(Sequence):
    """One GOT-10k video: frames, ground truth (NaN rows where unannotated: the test split),
    per-frame cover levels (None on the test split) and its ``meta_info.ini`` entries."""

    def __init__(
        self,
        name: str,
        frame_paths: list[Path],
        ground_truth: np.ndarray,
        cover: np.ndarray | None,
        absent: np.ndarray | None,
        meta: dict[str, str],
    ) -> None:
        super().__init__(name, frame_paths, ground_truth)
        self.cover = cover
        self.absent = absent
        self.meta = meta

    @property
    def visible(self) -> np.ndarray | None:
        """Frames GOT-10k scores: ``cover > 0`` as its toolkit takes them (else not
        ``absence.label``); None without labels (the test split)."""
        if self.cover is not None:
            return self.cover > 0
        return None if self.absent is None else self.absent == 0

    @property
    def resolution(self) -> tuple[int, int] | None:
        """``(width, height)`` from ``meta_info.ini`` (the bound of the toolkit's IoU)."""
        text = self.meta.get("resolution")
        return tuple(ast.literal_eval(text)) if text else None


def split_dir(root: str | Path, split: str) -> Path:
    if split not in SPLITS:
        raise GOT10kDataError(f"unknown GOT-10k split {split!r} (one of {', '.join(SPLITS)})")
    path = Path(root) / split
    if not path.is_dir():
        raise GOT10kDataError(f"{path}: GOT-10k split folder not found")
    return path


def got10k_sequence_names(root: str | Path, split: str) -> list[str]:
    """The sequences ``<root>/<split>/list.txt`` names (else the split's folders, sorted); an
    error where there is none."""
    folder = split_dir(root, split)
    listing = folder / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.parent.name for p in folder.glob("*/groundtruth.txt"))
    if not names:
        raise GOT10kDataError(f"{folder}: no GOT-10k sequence found")
    return names


def _meta(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text())
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise GOT10kDataError(f"{path}: not an INI file ({exc})") from None
    return {k: v for section in parser.sections() for k, v in parser[section].items()}


def _resolution_ok(meta: dict[str, str], path: Path) -> None:
    text = meta.get("resolution")
    if text is None:
        return
    try:
        size = ast.literal_eval(text)
        ok = len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
    except (ValueError, SyntaxError, TypeError):
        ok = False
    if not ok:
        raise GOT10kDataError(f"{path}: resolution {text!r} is not '(width, height)'")


def load_got10k_sequence(root: str | Path, split: str, name: str) -> GOT10kSequence:
    """Sequence ``name`` (``GOT-10k_Val_000001``) of ``split`` under the GOT-10k ``root``."""
    folder = split_dir(root, split) / name
    if not folder.is_dir():
        raise GOT10kDataError(f"{folder}: sequence folder not found")
    frames = sorted(p for p in folder.glob("*.jpg") if p.stem.isdigit())
    if not frames:
        raise GOT10kDataError(f"{folder}: no %08d.jpg frames")
    expected = [folder / f"{k:08d}.jpg" for k in range(1, len(frames) + 1)]
    if frames != expected:
        gap = next(p for p in expected if p not in set(frames))
        raise GOT10kDataError(f"{gap}: missing image (frames must be numbered 1..{len(frames)})")
    gt_path = folder / "groundtruth.txt"
    try:
        raw = read_ground_truth_file(gt_path)
    except OTBDataError as exc:
        raise GOT10kDataError(str(exc)) from None
    if len(raw) not in (1, len(frames)):
        raise GOT10kDataError(
            f"{gt_path}: {len(raw)} lines, but {folder} has {len(frames)} frames (a test-split "
            "sequence has 1 line)"
        )
    ground_truth = np.full((len(frames), 4), np.nan)
    ground_truth[: len(raw)] = raw
    labels = {}
    for label, top in (("cover", MAX_COVER), ("absence", 1)):
        path = folder / f"{label}.label"
        if len(raw) == len(frames) and path.is_file():
            try:
                labels[label] = read_frame_flags(path, len(frames), top)
            except FrameFlagsError as exc:
                raise GOT10kDataError(str(exc)) from None
    meta = _meta(folder / "meta_info.ini")
    _resolution_ok(meta, folder / "meta_info.ini")
    return GOT10kSequence(
        name, frames, ground_truth, labels.get("cover"), labels.get("absence"), meta
    )
