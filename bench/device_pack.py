"""A compact copy of the shared real data for the GPU device check (``bench.device_phase1``).

    python -m bench.device_pack [--out .device/pack] [--budget-mb 58] [--otb-mb 16]

The device machine gets the working tree and at most 64 MiB besides; ``../shared`` does not
travel. This writes, under ``--out`` (ignored by git; name it in the device call's ``carry``):

* ``det/<source>/JPEGImages``, ``Annotations``: every photo of ``../shared/data/det-real`` and
  ``voc-raccoon`` (phase 1's stand-in for ImageNet DET) shrunk to the largest size and
  JPEG quality of ``SIZES`` at which the whole pack fits ``--budget-mb``, its VOC boxes
  scaled with it (the readers of :mod:`gdt_core.data.det` read it as they read the original);
* ``otb/<folder>/...``: the smallest shared OTB folders, unchanged, up to ``--otb-mb``;
* ``weights/alexnet-imagenet-conv.pth``: the ImageNet convolutions;
* ``pack.json``: what was packed, the shrink chosen, the sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2

from gdt_core.data.det_sources import data_sets
from gdt_core.data.otb import present_targets, sequence_table

SHARED = Path(__file__).resolve().parents[2] / "shared"
DET_ROOTS = ("det-real", "voc-raccoon")  # phase 1's photographs (../shared/data/<root>)
SIZES = ((640, 85), (560, 85), (480, 85), (480, 75), (400, 75), (320, 75))  # max side, quality


def shrink_voc(src: Path, dst: Path, max_side: int, quality: int) -> int:
    """One VOC folder's photos shrunk to ``max_side`` (never enlarged) with their boxes
    scaled; the bytes written."""
    written = 0
    (dst / "Annotations").mkdir(parents=True, exist_ok=True)
    (dst / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for xml in sorted((src / "Annotations").glob("*.xml")):
        tree = ET.parse(xml)
        name = tree.findtext("filename") or f"{xml.stem}.jpg"
        image = cv2.imread(str(src / "JPEGImages" / name), cv2.IMREAD_COLOR)
        if image is None:
            continue
        h, w = image.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
        tree.find("size/width").text = str(size[0])
        tree.find("size/height").text = str(size[1])
        for box in tree.iter("bndbox"):
            for tag, limit in (("xmin", size[0]), ("ymin", size[1])):
                node = box.find(tag)
                node.text = str(min(limit, max(1, round((float(node.text) - 1) * scale) + 1)))
            for tag, limit in (("xmax", size[0]), ("ymax", size[1])):
                node = box.find(tag)
                node.text = str(min(limit, max(1, round(float(node.text) * scale))))
        tree.write(dst / "Annotations" / xml.name)
        out = dst / "JPEGImages" / f"{Path(name).stem}.jpg"
        cv2.imwrite(str(out), small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        written += out.stat().st_size + (dst / "Annotations" / xml.name).stat().st_size
    return written


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".device/pack")
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--budget-mb", type=float, default=58.0, help="the whole pack")
    ap.add_argument("--otb-mb", type=float, default=16.0, help="of it, OTB folders")
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    (out / "weights").mkdir(parents=True)
    shutil.copy2(shared / "weights" / "alexnet-imagenet-conv.pth", out / "weights")
    otb = shared / "data" / "otb"
    table = sequence_table()
    folders = sorted(
        {table[n].img_dir for n in present_targets(otb, table)}, key=lambda f: folder_bytes(otb / f)
    )
    packed = []
    for folder in folders:
        so_far = folder_bytes(out / "otb") if packed else 0
        if so_far + folder_bytes(otb / folder) > args.otb_mb * 2**20:
            break
        shutil.copytree(otb / folder, out / "otb" / folder)
        packed.append(folder)
    sources = {}  # VOC folder -> where it goes, by the name phase 1 counts it by
    for root in DET_ROOTS:
        for folder, _ in data_sets(shared / "data" / root):
            sources[folder] = Path(root) / folder.relative_to(shared / "data" / root)
    fixed = folder_bytes(out)
    for max_side, quality in SIZES:
        shutil.rmtree(out / "det", ignore_errors=True)
        det = sum(
            shrink_voc(folder, out / "det" / name, max_side, quality)
            for folder, name in sources.items()
        )
        if fixed + det <= args.budget_mb * 2**20:
            break
    else:
        raise SystemExit(f"{out}: over {args.budget_mb} MB even at {SIZES[-1]}")
    summary = {
        "det_roots": [f"det/{root}" for root in DET_ROOTS],
        "max_side": max_side,
        "jpeg_quality": quality,
        "otb_folders": packed,
        "otb_targets": present_targets(out / "otb", table),
        "megabytes": {"det": det / 2**20, "all": folder_bytes(out) / 2**20},
    }
    (out / "pack.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
