"""Seeded synthetic detection data in the real on-disk formats (JPEG + VOC XML).

Stands in for ImageNet DET in the demo and the tests: each image is a cluttered background
(smoothed colour noise, random lines and outlined shapes) with 1-4 textured objects (stripes,
checkers or blobs; filled ellipses or rectangles) of varied size and colour, annotated with
VOC ``bndbox`` corners (1-based inclusive). ``layout="voc"`` writes ``JPEGImages/`` +
``Annotations/``; ``layout="ilsvrc"`` writes the ILSVRC2014 DET tree with an
``ImageSets/DET/<split>_1.txt`` list, so both code paths of :mod:`gdt_core.data.det` are exercised.
The same ``seed`` gives the same files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

CLASS_NAMES = ("stripes", "checker", "blob")


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    coarse = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img.astype(np.int16) + rng.integers(-20, 21, size=img.shape)).clip(0, 255)
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(10, 30))):  # clutter: lines and outlined shapes
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.line(img, p1, p2, colour, int(rng.integers(1, 4)))
        else:
            cv2.rectangle(img, p1, p2, colour, 1)
    return img


def _texture(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = rng.integers(0, 256, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = float(rng.uniform(4, 16))
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0
    elif kind == "checker":
        t = ((xx // period).astype(int) + (yy // period).astype(int)) % 2 == 0
    else:
        noise = rng.random((max(h // 6, 2), max(w // 6, 2))).astype(np.float32)
        t = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) > 0.5
    t = t.astype(np.float32)[..., None]
    return (t * c1 + (1 - t) * c2).astype(np.uint8)


def _draw_object(rng: np.random.Generator, img: np.ndarray, kind: str) -> tuple[int, int, int, int]:
    """Paint one object; return its VOC corners ``(xmin, ymin, xmax, ymax)`` (1-based)."""
    h, w = img.shape[:2]
    bw = int(rng.integers(max(w // 8, 12), max(w // 2, 13)))
    bh = int(np.clip(bw * np.exp(rng.uniform(-0.6, 0.6)), 12, h - 2))
    bw = min(bw, w - 2)
    x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    mask = np.zeros((bh, bw), np.uint8)
    if rng.random() < 0.5:
        cv2.ellipse(mask, (bw // 2, bh // 2), (bw // 2, bh // 2), 0, 0, 360, 255, -1)
    else:
        mask[:] = 255
    tex = _texture(rng, kind, bh, bw)
    region = img[y0 : y0 + bh, x0 : x0 + bw]
    region[mask > 0] = tex[mask > 0]
    return x0 + 1, y0 + 1, x0 + bw, y0 + bh


def _annotation(filename: str, w: int, h: int, objects: list[tuple[str, tuple]]) -> ET.Element:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for tag, value in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for name, corners in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            ET.SubElement(bnd, tag).text = str(value)
    return root


def generate_det(
    root: str | Path,
    num_images: int,
    seed: int = 0,
    layout: str = "voc",
    split: str = "train",
    size_range: tuple[int, int] = (160, 320),
) -> Path:
    """Write ``num_images`` synthetic images + XML under ``root``; return ``root``."""
    if layout not in ("voc", "ilsvrc"):
        raise ValueError(f"layout must be 'voc' or 'ilsvrc', got {layout!r}")
    root = Path(root)
    if layout == "voc":
        img_dir, ann_dir = root / "JPEGImages", root / "Annotations"
        suffix = ".jpg"
    else:
        img_dir = root / "Data" / "DET" / split / f"synthetic_{split}"
        ann_dir = root / "Annotations" / "DET" / split / f"synthetic_{split}"
        suffix = ".JPEG"
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(num_images):
        rng = np.random.default_rng([seed, i])
        w, h = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, 2))
        img = _background(rng, h, w)
        objects = []
        for _ in range(int(rng.integers(1, 5))):
            kind = CLASS_NAMES[int(rng.integers(len(CLASS_NAMES)))]
            objects.append((kind, _draw_object(rng, img, kind)))
        stem = f"synthetic_{i:06d}"
        cv2.imwrite(str(img_dir / f"{stem}{suffix}"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        tree = ET.ElementTree(_annotation(f"{stem}{suffix}", w, h, objects))
        tree.write(ann_dir / f"{stem}.xml", encoding="utf-8")
        names.append(f"synthetic_{split}/{stem}")
    if layout == "ilsvrc":
        sets = root / "ImageSets" / "DET"
        sets.mkdir(parents=True, exist_ok=True)
        (sets / f"{split}_1.txt").write_text("".join(f"{n} 1\n" for n in names))
    return root
