"""Where phase 1's annotated photographs come from: one or several roots (section 3.2).

A root is one data set -- ImageNet DET (``Annotations/DET/``), PASCAL VOC (``Annotations/`` +
``JPEGImages/``) or COCO (``annotations/instances_<split>*.json``) -- or a folder whose
sub-folders are data sets (``../shared/data/det-real`` is one: seven VOC folders). Every data
set is a *source*, named by its folder (``det-real/coco128-lightly``), which the patch set
counts patches by. :func:`list_det_roots` lists them all; records a COCO listing already found
unusable come back as skipped, with their reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gdt_core.data.coco import coco_files, read_coco
from gdt_core.data.det import DetEntry, Skipped, list_entries, xml_layout


def detect_layout(root: Path, split: str = "train") -> str:
    """``"ilsvrc"``, ``"voc"`` or ``"coco"`` for one data set's folder, else ``""``."""
    return xml_layout(root) or ("coco" if coco_files(root, split) else "")


def data_sets(root: str | Path, split: str = "train") -> list[tuple[Path, str]]:
    """The data sets in ``root`` as ``(folder, layout)``: ``root`` itself, else its
    sub-folders that are one; a :class:`FileNotFoundError` naming ``root`` if none is."""
    root = Path(root)
    layout = detect_layout(root, split)
    if layout:
        return [(root, layout)]
    found = [(d, detect_layout(d, split)) for d in sorted(root.iterdir()) if d.is_dir()]
    found = [(d, layout) for d, layout in found if layout]
    if not found:
        raise FileNotFoundError(
            f"{root}: neither an ImageNet DET root (Annotations/DET/, Data/DET/), a PASCAL VOC "
            f"root (Annotations/, JPEGImages/), a COCO root (annotations/instances_{split}*.json)"
            " nor a folder of such roots"
        )
    return found


@dataclass(frozen=True)
class DetListing:
    """Every record of the given roots, and what the listing already had to skip."""

    entries: list[DetEntry]
    skipped: list[Skipped]
    sources: list[str]


def list_det_roots(roots: Sequence[str | Path], split: str = "train") -> DetListing:
    """List every data set of every root (no XML is parsed; COCO JSONs are)."""
    if not roots:
        raise ValueError("no DET root given")
    entries: list[DetEntry] = []
    skipped: list[Skipped] = []
    sources: list[str] = []
    for root in roots:
        root = Path(root).resolve()
        for folder, layout in data_sets(root, split):
            source = root.name if folder == root else f"{root.name}/{folder.name}"
            sources.append(source)
            if layout == "coco":
                for path in coco_files(folder, split):
                    found, bad = read_coco(path, folder, source)
                    entries += found
                    skipped += bad
            else:
                entries += list_entries(folder, split, source)
    return DetListing(entries, skipped, sources)
