"""ImageNet DET / PASCAL VOC reader: the annotated images of phase 1 (section 3.2).

Two layouts, one XML schema (``<size>``, ``<object><name><bndbox><xmin>...``):

* ILSVRC2014 DET: ``Data/DET/<split>/<rel>.JPEG``, ``Annotations/DET/<split>/<rel>.xml``,
  image lists ``ImageSets/DET/<split>*.txt`` (first token of each line = ``<rel>``; without
  image lists every XML under ``Annotations/DET/<split>`` is used).
* PASCAL VOC: ``JPEGImages/<filename>``, ``Annotations/<stem>.xml`` (split ignored).

Listing (:func:`list_entries`) only touches directory listings and image-list files, so the
driver stays fast on 450k images; parsing (:func:`read_record`) happens where the record is
used (the patch shard tasks). A bad record raises :class:`DetRecordError` with a short reason
(``malformed xml``, ``box outside image``, ``object without bndbox``, ``missing image``, ...);
callers skip and count it.

Boxes: ``bndbox`` corners are read in VOC's 1-based inclusive convention and become the
continuous 0-based box ``(xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)`` clipped to
the image; ImageNet files that use 0 as the first pixel are accepted (``xmin = 0`` is clipped,
not an error). A box is "outside the image" when a corner lies beyond ``[0, width] x
[0, height]`` or the box is empty. ``<difficult>1</difficult>`` objects (COCO crowd regions
in converted sets) are kept as ``ignore`` boxes. COCO JSON: :mod:`gdt_core.data.coco`; several
roots and roots of several data sets: :mod:`gdt_core.data.det_sources`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".JPEG", ".JPG", ".png")


class DetRecordError(ValueError):
    """One annotation record is unusable; ``reason`` is a short category for counting."""

    def __init__(self, path: Path | str, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class DetEntry:
    """Where one record lives: its XML and the folder + stem its image is looked up by.

    ``source`` names the data set it came from (a folder of a multi-source root); ``parsed``
    is the record itself where the listing already parsed it (COCO: one JSON holds them all).
    """

    annotation: str
    image_dir: str
    stem: str
    source: str = ""
    parsed: DetRecord | None = field(default=None, compare=False, repr=False)

    def key(self) -> tuple[str, str, str, str]:
        """What identifies the record (a shard's fingerprint hashes these)."""
        return (self.annotation, self.image_dir, self.stem, self.source)


@dataclass(frozen=True)
class DetRecord:
    """One annotated image: 0-based continuous ``(x, y, w, h)`` boxes and their class names."""

    image: str
    annotation: str
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float64
    names: tuple[str, ...]
    ignore: np.ndarray  # (N,) bool: VOC <difficult>1, COCO iscrowd: never a positive, never
    # background (negatives keep clear of them as of every box)


@dataclass(frozen=True)
class Skipped:
    """A record left out of the job and why."""

    path: str
    reason: str


def _ilsvrc_names(root: Path, split: str) -> list[str]:
    lists = sorted((root / "ImageSets" / "DET").glob(f"{split}*.txt"))
    if not lists:
        base = root / "Annotations" / "DET" / split
        return sorted(p.relative_to(base).with_suffix("").as_posix() for p in base.rglob("*.xml"))
    names: set[str] = set()
    for path in lists:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                names.add(line.split()[0])
    return sorted(names)


def xml_layout(root: Path) -> str:
    """``"ilsvrc"`` or ``"voc"`` for a folder of either XML layout, else ``""``."""
    if (root / "Annotations" / "DET").is_dir():
        return "ilsvrc"
    if (root / "Annotations").is_dir() and (root / "JPEGImages").is_dir():
        return "voc"
    return ""


def list_entries(root: str | Path, split: str = "train", source: str = "") -> list[DetEntry]:
    """Every record of ``root`` (either XML layout), sorted; nothing is parsed yet."""
    root = Path(root)
    layout = xml_layout(root)
    if layout == "voc":
        return [
            DetEntry(str(p), str(root / "JPEGImages"), p.stem, source)
            for p in sorted((root / "Annotations").glob("*.xml"))
        ]
    if not layout:
        raise FileNotFoundError(
            f"{root}: neither an ImageNet DET root (Annotations/DET/, Data/DET/) "
            "nor a PASCAL VOC root (Annotations/, JPEGImages/)"
        )
    ann, data = root / "Annotations" / "DET" / split, root / "Data" / "DET" / split
    entries = []
    for rel in _ilsvrc_names(root, split):
        image_dir = (data / rel).parent
        entries.append(DetEntry(str(ann / f"{rel}.xml"), str(image_dir), Path(rel).name, source))
    return entries


def _int(node: ET.Element, tag: str, path: str) -> int:
    text = node.findtext(tag)
    if text is None:
        raise DetRecordError(path, "malformed xml", f"<{tag}> missing")
    try:
        return int(round(float(text)))
    except ValueError:
        raise DetRecordError(path, "malformed xml", f"<{tag}> = {text!r}") from None


def _find_image(entry: DetEntry, filename: str | None) -> Path:
    image_dir = Path(entry.image_dir)
    candidates = [image_dir / filename] if filename else []
    candidates += [image_dir / f"{entry.stem}{s}" for s in IMAGE_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    raise DetRecordError(entry.annotation, "missing image", f"no {entry.stem}.* in {image_dir}")


def read_record(entry: DetEntry) -> DetRecord:
    """Parse one XML (or take the listing's parse) and locate its image;
    :class:`DetRecordError` if unusable."""
    if entry.parsed is not None:
        if not Path(entry.parsed.image).is_file():
            raise DetRecordError(entry.annotation, "missing image", entry.parsed.image)
        return entry.parsed
    path = entry.annotation
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise DetRecordError(path, "missing annotation") from None
    except ET.ParseError as exc:
        raise DetRecordError(path, "malformed xml", str(exc)) from None
    root = tree.getroot()
    size = root.find("size")
    if size is None:
        raise DetRecordError(path, "malformed xml", "<size> missing")
    width, height = _int(size, "width", path), _int(size, "height", path)
    if width <= 0 or height <= 0:
        raise DetRecordError(path, "invalid size", f"{width} x {height}")
    boxes, names, ignore = [], [], []
    for i, obj in enumerate(root.iter("object")):
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DetRecordError(path, "object without bndbox", f"object {i}")
        x1, y1, x2, y2 = (_int(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height or x2 < x1 or y2 < y1:
            raise DetRecordError(
                path, "box outside image", f"object {i}: ({x1},{y1},{x2},{y2}) in {width}x{height}"
            )
        x, y = max(x1 - 1, 0), max(y1 - 1, 0)
        boxes.append((x, y, x2 - x, y2 - y))
        names.append((obj.findtext("name") or "").strip())
        ignore.append((obj.findtext("difficult") or "0").strip() == "1")
    image = _find_image(entry, root.findtext("filename"))
    return DetRecord(
        image=str(image),
        annotation=path,
        width=width,
        height=height,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        names=tuple(names),
        ignore=np.asarray(ignore, dtype=bool),
    )


def read_records(entries: Iterable[DetEntry]) -> tuple[list[DetRecord], list[Skipped]]:
    """Parse many entries; unusable ones are returned as :class:`Skipped` (never raised)."""
    records, skipped = [], []
    for entry in entries:
        try:
            records.append(read_record(entry))
        except DetRecordError as exc:
            skipped.append(Skipped(exc.path, exc.reason))
    return records, skipped


def count_reasons(skipped: Iterable[Skipped]) -> dict[str, int]:
    """``{reason: count}``, sorted by reason."""
    return dict(sorted(Counter(s.reason for s in skipped).items()))
