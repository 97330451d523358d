"""OTB sequences: the sequence table (``datasets/otb/``), named lists and a lazy frame reader.

Two on-disk layouts are read (see ``datasets/otb/README.md``):

* a standard OTB download: ``<root>/<img_dir>/img/%04d.jpg`` and ``<root>/<img_dir>/<gt_file>``
  (Jogging-1/-2, Skating2-1/-2 and Human4-2 share one image folder each);
* the official toolkit's flat annotation folder ``<anno>/<Seq>.txt`` (ground truth only).

Every quirk (start frames other than 1, first annotated frame, fewer annotations than images,
image numbering) comes from the table's columns, never from special cases here. Frame ``k`` of
a target (``start_frame <= k <= end_frame``) uses ground-truth line ``k - anno_begin + 1`` and
image file number ``k + img_offset``. Boxes are 0-based in memory
(:func:`gdt_core.boxes.from_otb_file`); invalid rows (NaN, zeros) are kept.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gdt_core.boxes import from_otb_file
from gdt_core.data.box_file import BoxFileError, read_box_file
from gdt_core.resources import shipped

ATTRIBUTES = ("IV", "SV", "OCC", "DEF", "MB", "FM", "IPR", "OPR", "OV", "BC", "LR")
"""The 11 OTB attributes, in the benchmark's order."""

DATASETS_DIR = shipped("datasets") / "otb"
NAMED_LISTS = ("cvpr13", "tb50", "tb100")
_IMAGE_EXTENSIONS = (".jpg", ".png")


class OTBDataError(ValueError):
    """Bad OTB input: missing or unreadable files, inconsistent lengths, unknown names."""


@dataclass(frozen=True)
class SequenceInfo:
    """One row of ``datasets/otb/sequences.csv``."""

    name: str
    start_frame: int
    end_frame: int
    anno_begin: int
    gt_lines: int
    img_dir: str
    gt_file: str
    attributes: tuple[str, ...]
    cvpr13: bool
    tb50: bool
    img_offset: int = 0
    img_digits: int = 4

    @property
    def num_frames(self) -> int:
        """Frames tracked: ``start_frame .. end_frame``."""
        return self.end_frame - self.start_frame + 1

    @property
    def gt_slice(self) -> slice:
        """Rows of the ground-truth file that belong to the tracked frames."""
        first = self.start_frame - self.anno_begin
        return slice(first, first + self.num_frames)

    def image_names(self, extension: str = ".jpg") -> list[str]:
        """File names of the tracked frames' images, in order."""
        first = self.start_frame + self.img_offset
        return [
            f"{number:0{self.img_digits}d}{extension}"
            for number in range(first, first + self.num_frames)
        ]


def sequence_table(path: str | Path | None = None) -> dict[str, SequenceInfo]:
    """The OTB-100 sequence table, by target name (default: ``datasets/otb/sequences.csv``)."""
    path = Path(path) if path is not None else DATASETS_DIR / "sequences.csv"
    if not path.is_file():
        raise OTBDataError(f"{path}: OTB sequence table not found")
    table: dict[str, SequenceInfo] = {}
    with path.open(newline="") as handle:
        for lineno, row in enumerate(csv.DictReader(handle), start=2):
            try:
                info = SequenceInfo(
                    name=row["name"],
                    start_frame=int(row["start_frame"]),
                    end_frame=int(row["end_frame"]),
                    anno_begin=int(row["anno_begin"]),
                    gt_lines=int(row["gt_lines"]),
                    img_dir=row.get("img_dir") or row["name"],
                    gt_file=row.get("gt_file") or "groundtruth_rect.txt",
                    attributes=tuple(row["attributes"].split()),
                    cvpr13=row["cvpr13"] == "1",
                    tb50=row["tb50"] == "1",
                    img_offset=int(row.get("img_offset") or 0),
                    img_digits=int(row.get("img_digits") or 4),
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise OTBDataError(f"{path}:{lineno}: bad sequence-table row ({exc})") from None
            unknown = set(info.attributes) - set(ATTRIBUTES)
            if unknown:
                raise OTBDataError(f"{path}:{lineno}: unknown attributes {sorted(unknown)}")
            table[info.name] = info
    return table


def sequence_names(spec: str, table: dict[str, SequenceInfo] | None = None) -> list[str]:
    """Target names of a named list (``cvpr13``, ``tb50``, ``tb100``) or of ``"A,B,C"``."""
    table = table if table is not None else sequence_table()
    if spec in NAMED_LISTS:
        path = DATASETS_DIR / f"{spec}.txt"
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise OTBDataError(f"empty sequence list {spec!r}")
    unknown = [name for name in names if name not in table]
    if unknown:
        near = difflib.get_close_matches(unknown[0], list(table), n=1, cutoff=0.7)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise OTBDataError(
            f"unknown OTB sequence(s) {', '.join(unknown)} in {spec!r}{hint}; use one of "
            f"{', '.join(NAMED_LISTS)} or names from datasets/otb/sequences.csv"
        )
    return names


class Sequence:
    """One target: its frames (decoded lazily) and 0-based ground truth (NaN rows kept).

    Implements :class:`gdt_core.tracking.interface.FrameSource`.
    """

    def __init__(
        self,
        name: str,
        frame_paths: list[Path],
        ground_truth: np.ndarray,
        info: SequenceInfo | None = None,
    ) -> None:
        if len(frame_paths) != len(ground_truth):
            raise OTBDataError(
                f"{name}: {len(frame_paths)} frames but {len(ground_truth)} ground-truth boxes"
            )
        self.name = name
        self.frame_paths = list(frame_paths)
        self.ground_truth = ground_truth
        self.info = info

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.info.attributes if self.info is not None else ()

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0 = first tracked frame) as BGR ``uint8`` ``(H, W, 3)``."""
        path = self.frame_paths[index]
        where = f"frame {self.frame_number(index)} of {self.name}"
        if not path.is_file():
            raise OTBDataError(f"{path}: missing image ({where})")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grayscale JPEGs come back 3-channel
        if image is None:
            raise OTBDataError(f"{path}: unreadable image ({where})")
        return image

    def frame_number(self, index: int) -> int:
        """The 1-based frame number of ``index`` as the benchmark counts it (the sequence
        table's ``start_frame`` is frame 0's)."""
        return (self.info.start_frame if self.info is not None else 1) + index

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, {len(self)} frames)"


def _read_ground_truth(path: Path) -> np.ndarray:
    try:
        return read_box_file(path)
    except BoxFileError as exc:
        raise OTBDataError(str(exc)) from None


def load_ground_truth(
    info: SequenceInfo, otb_root: str | Path | None = None, anno_dir: str | Path | None = None
) -> np.ndarray:
    """0-based ground truth of the tracked frames, from ``anno_dir`` if given else ``otb_root``."""
    if anno_dir is not None:
        path = Path(anno_dir) / f"{info.name}.txt"
    elif otb_root is not None:
        path = Path(otb_root) / info.img_dir / info.gt_file
    else:
        raise OTBDataError(f"{info.name}: give an OTB root or an annotation folder")
    raw = _read_ground_truth(path)
    rows = raw[info.gt_slice]
    if len(rows) != info.num_frames:
        raise OTBDataError(
            f"{path}: {len(raw)} lines, but {info.name} needs lines "
            f"{info.gt_slice.start + 1}..{info.gt_slice.stop} (frames "
            f"{info.start_frame}..{info.end_frame})"
        )
    check_first_box(rows[0], path, info.gt_slice.start + 1)
    return from_otb_file(rows)


def check_first_box(row: np.ndarray, path: Path, line: int) -> None:
    """The box tracking starts from (as written, 1-based) must be finite with positive sides:
    an :class:`OTBDataError` naming the file and line otherwise."""
    written = ",".join(f"{v:g}" for v in row)
    if not np.isfinite(row).all():
        problem = "is not four finite numbers"
    elif row[2] <= 0 or row[3] <= 0:
        problem = "has a width or height <= 0"
    else:
        return
    raise OTBDataError(
        f"{path}:{line}: the first box (x,y,w,h = {written}) {problem}; tracking starts from it"
    )


def read_ground_truth_file(path: Path) -> np.ndarray:
    """Boxes of a ground-truth file whose line 1 starts tracking, as written, that first box
    checked (:func:`check_first_box`); :class:`OTBDataError` naming the file and line."""
    raw = _read_ground_truth(path)
    check_first_box(raw[0], path, 1)
    return raw


def _image_paths(img_dir: Path, info: SequenceInfo) -> list[Path]:
    if not img_dir.is_dir():
        raise OTBDataError(f"{img_dir}: image folder not found (target {info.name})")
    for extension in _IMAGE_EXTENSIONS:
        paths = [img_dir / name for name in info.image_names(extension)]
        if paths[0].is_file():
            break
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise OTBDataError(
            f"{missing[0]}: missing image ({len(missing)} of {len(paths)} frames of {info.name} "
            f"missing; expected frames {info.start_frame}..{info.end_frame})"
        )
    return paths


def load_sequence(
    otb_root: str | Path,
    name: str,
    anno_dir: str | Path | None = None,
    table: dict[str, SequenceInfo] | None = None,
) -> Sequence:
    """Target ``name`` of the sequence table from an OTB download at ``otb_root``.

    Ground truth comes from ``<anno_dir>/<name>.txt`` when ``anno_dir`` is given, else from
    ``<otb_root>/<img_dir>/<gt_file>``. Image files are checked to exist; decoding is lazy.
    """
    table = table if table is not None else sequence_table()
    if name not in table:
        raise OTBDataError(f"unknown OTB sequence {name!r} (not in the sequence table)")
    info = table[name]
    ground_truth = load_ground_truth(info, otb_root=otb_root, anno_dir=anno_dir)
    paths = _image_paths(Path(otb_root) / info.img_dir / "img", info)
    return Sequence(name, paths, ground_truth, info)


def load_sequence_dir(path: str | Path, name: str | None = None) -> Sequence:
    """A folder ``img/`` + ``groundtruth_rect.txt`` that is not in the table (frames from 1).

    Images are the numbered files of ``img/`` in numeric order; when there are fewer
    ground-truth lines than images, only the annotated (first) frames are tracked.
    """
    path = Path(path)
    img_dir = path / "img"
    if not img_dir.is_dir():
        raise OTBDataError(f"{img_dir}: image folder not found")
    images = sorted(
        (
            p
            for p in img_dir.iterdir()
            if p.suffix.lower() in _IMAGE_EXTENSIONS and p.stem.isdigit()
        ),
        key=lambda p: int(p.stem),
    )
    gt_path = path / "groundtruth_rect.txt"
    raw = read_ground_truth_file(gt_path)
    if len(raw) > len(images):
        raise OTBDataError(
            f"{gt_path}: {len(raw)} boxes but only {len(images)} images in {img_dir}"
        )
    name = name or path.name
    info = SequenceInfo(
        name=name,
        start_frame=1,
        end_frame=len(raw),
        anno_begin=1,
        gt_lines=len(raw),
        img_dir=path.name,
        gt_file=gt_path.name,
        attributes=(),
        cvpr13=False,
        tb50=False,
    )
    return Sequence(name, images[: len(raw)], from_otb_file(raw), info)


def present_targets(
    otb_root: str | Path, table: dict[str, SequenceInfo] | None = None
) -> list[str]:
    """The table's targets whose image folder and ground-truth file are under ``otb_root``
    (an OTB download, whole or in part), in the table's order."""
    table = table if table is not None else sequence_table()
    root = Path(otb_root)
    return [
        name
        for name, info in table.items()
        if (root / info.img_dir / "img").is_dir() and (root / info.img_dir / info.gt_file).is_file()
    ]
