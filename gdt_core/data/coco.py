"""COCO ``instances_*.json`` reader: more annotated photographs for phase 1 (section 3.2).

Layout: ``<root>/annotations/instances_<split>*.json`` (e.g. ``instances_train2017.json``)
and the images of each JSON in the first folder of ``<root>/<name>/``, ``<root>/images/<name>/``,
``<root>/images/``, ``<root>/`` that holds its first image (``<name>`` = the JSON's stem
without ``instances_``). One JSON holds every record, so the listing parses it once and the
entries carry their records (:attr:`gdt_core.data.det.DetEntry.parsed`).

COCO ``bbox`` is ``[x, y, w, h]`` in 0-based continuous pixels: our box convention as it is.
``iscrowd = 1`` regions become ``ignore`` boxes (never a positive, never background). A bad
record is skipped and counted, as the XML readers do: an annotation of an unknown image or
category, a ``bbox`` that is not four finite numbers with positive sides, or a box that
leaves the image by more than a pixel skip that image (``invalid bbox``, ``box outside
image``, ``unknown image``, ``unknown category``); an image entry without ``file_name`` or a
positive ``width``/``height`` is ``invalid image entry``. A file that is not JSON, or not
COCO instances, is an error naming the file (and the line, for JSON syntax).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gdt_core.data.det import DetEntry, DetRecord, Skipped

OUTSIDE_TOLERANCE = 1.0  # px a COCO box may pass the image edge (rounded polygons) before
# it counts as outside; boxes are clipped to the image either way


class CocoFormatError(ValueError):
    """A whole COCO file is unusable (not JSON, or not instances)."""


def coco_files(root: str | Path, split: str = "train") -> list[Path]:
    """``<root>/annotations/instances_<split>*.json``, sorted (empty if none)."""
    return sorted((Path(root) / "annotations").glob(f"instances_{split}*.json"))


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CocoFormatError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise CocoFormatError(
            f"{path}: not a COCO instances file (needs lists 'images', 'annotations', 'categories')"
        )
    return data


def _image_dir(root: Path, json_path: Path, first_file: str | None) -> Path:
    name = json_path.stem.removeprefix("instances_")
    options = [root / name, root / "images" / name, root / "images", root]
    for folder in options:
        if first_file and (folder / first_file).is_file():
            return folder
    return next((f for f in options if f.is_dir()), root)


def _box(ann: dict[str, Any], width: int, height: int) -> tuple[np.ndarray | None, str]:
    """The clipped box of one annotation, or ``(None, reason)``."""
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        return None, "invalid bbox"
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None, "invalid bbox"
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None, "invalid bbox"
    tol = OUTSIDE_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return None, "box outside image"
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        return None, "box outside image"
    return np.array([x0, y0, x1 - x0, y1 - y0]), ""


def _size(image: dict[str, Any]) -> tuple[int, int] | None:
    try:
        w, h = int(image["width"]), int(image["height"])
    except (KeyError, TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def read_coco(
    path: str | Path, root: str | Path, source: str = ""
) -> tuple[list[DetEntry], list[Skipped]]:
    """Every usable image of one instances JSON as a parsed :class:`DetEntry` (sorted by
    image id), and the skipped ones with their reasons (``<json>#image=<id>``)."""
    path, root = Path(path), Path(root)
    data = _load(path)
    categories = {
        c.get("id"): str(c.get("name", "")) for c in data["categories"] if isinstance(c, dict)
    }
    images = {i.get("id"): i for i in data["images"] if isinstance(i, dict)}
    first = next(iter(images.values()), {}).get("file_name")
    image_dir = _image_dir(root, path, first if isinstance(first, str) else None)
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    skipped: list[Skipped] = []
    bad: dict[Any, str] = {}
    for k, ann in enumerate(data["annotations"]):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if image_id not in images:
            skipped.append(Skipped(f"{path}#annotation={k}", "unknown image"))
        elif ann.get("category_id") not in categories:
            bad.setdefault(image_id, "unknown category")
        else:
            by_image[image_id].append(ann)
    entries: list[DetEntry] = []
    for image_id in sorted(images, key=str):
        image, where = images[image_id], f"{path}#image={image_id}"
        size, name = _size(image), image.get("file_name")
        if size is None or not isinstance(name, str) or not name:
            skipped.append(Skipped(where, "invalid image entry"))
            continue
        boxes, names, ignore, reason = [], [], [], bad.get(image_id, "")
        for ann in by_image[image_id]:
            if reason:
                break
            box, reason = _box(ann, *size)
            boxes.append(box)
            names.append(categories[ann["category_id"]])
            ignore.append(bool(ann.get("iscrowd", 0)))
        if reason:
            skipped.append(Skipped(where, reason))
            continue
        record = DetRecord(
            image=str(image_dir / name),
            annotation=where,
            width=size[0],
            height=size[1],
            boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            names=tuple(names),
            ignore=np.asarray(ignore, dtype=bool),
        )
        entries.append(DetEntry(where, str(image_dir), Path(name).stem, source, record))
    return entries, skipped
