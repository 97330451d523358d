"""The DET/VOC reader on the real VOC files and on broken copies of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gdt_core.data.det import count_reasons, list_entries, read_record, read_records
from gdt_core.data.det_sources import data_sets, list_det_roots
from gdt_core.data.synthetic_det import generate_det


@pytest.mark.shared_data
def test_reads_every_real_voc_record(shared_data: Path) -> None:
    records, skipped = read_records(list_entries(shared_data / "voc-raccoon"))
    assert len(records) == 200 and skipped == []
    first = next(r for r in records if Path(r.annotation).name == "raccoon-1.xml")
    # raccoon-1.xml: 650 x 417, bndbox xmin 81 ymin 88 xmax 522 ymax 408 (1-based inclusive)
    assert (first.width, first.height) == (650, 417)
    np.testing.assert_array_equal(first.boxes, [[80, 87, 442, 321]])
    assert first.names == ("raccoon",) and Path(first.image).is_file()


def _voc_copy(src: Path, dst: Path, stems: list[str]) -> Path:
    for sub in ("Annotations", "JPEGImages"):
        (dst / sub).mkdir(parents=True)
    for stem in stems:
        shutil.copy(src / "Annotations" / f"{stem}.xml", dst / "Annotations")
        shutil.copy(src / "JPEGImages" / f"{stem}.jpg", dst / "JPEGImages")
    return dst


def make_broken_voc(shared_data: Path, dst: Path) -> Path:
    """Six real records: two intact, four broken in the ways the issue lists."""
    stems = [f"raccoon-{i}" for i in range(1, 7)]
    root = _voc_copy(shared_data / "voc-raccoon", dst, stems)
    ann = root / "Annotations"
    text = (ann / "raccoon-3.xml").read_text()
    (ann / "raccoon-3.xml").write_text(text[: len(text) // 2])  # truncated: malformed
    text = (ann / "raccoon-4.xml").read_text()
    xmax = text.split("<xmax>")[1].split("</xmax>")[0]
    (ann / "raccoon-4.xml").write_text(text.replace(f"<xmax>{xmax}<", "<xmax>99999<"))
    text = (ann / "raccoon-5.xml").read_text()
    start, end = text.index("<bndbox>"), text.index("</bndbox>") + len("</bndbox>")
    (ann / "raccoon-5.xml").write_text(text[:start] + text[end:])
    (root / "JPEGImages" / "raccoon-6.jpg").unlink()
    return root


@pytest.mark.shared_data
def test_broken_records_are_skipped_and_counted(shared_data: Path, tmp_path: Path) -> None:
    root = make_broken_voc(shared_data, tmp_path / "voc")
    records, skipped = read_records(list_entries(root))
    assert sorted(Path(r.annotation).name for r in records) == ["raccoon-1.xml", "raccoon-2.xml"]
    assert count_reasons(skipped) == {
        "box outside image": 1,
        "malformed xml": 1,
        "missing image": 1,
        "object without bndbox": 1,
    }
    by_file = {Path(s.path).name: s.reason for s in skipped}
    assert by_file["raccoon-3.xml"] == "malformed xml"
    assert by_file["raccoon-6.xml"] == "missing image"


def test_ilsvrc_layout_uses_image_sets(tmp_path: Path) -> None:
    root = generate_det(tmp_path / "det", 3, seed=4, layout="ilsvrc")
    sets = root / "ImageSets" / "DET" / "train_1.txt"
    sets.write_text(sets.read_text() + "synthetic_train/not_there 1\n")
    entries = list_entries(root, "train")
    assert len(entries) == 4
    records, skipped = read_records(entries)
    assert len(records) == 3 and count_reasons(skipped) == {"missing annotation": 1}
    rec = read_record(entries[-1])
    assert rec.image.endswith(".JPEG") and "Data/DET/train" in rec.image
    assert (rec.boxes[:, 2:] > 0).all() and (rec.boxes[:, 0] + rec.boxes[:, 2] <= rec.width).all()


def test_unknown_layout_names_the_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        list_entries(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: neither .* nor a folder of"):
        data_sets(tmp_path)


@pytest.mark.shared_data
def test_difficult_objects_of_the_real_sets_are_ignore_boxes(shared_data: Path) -> None:
    listing = list_det_roots([shared_data / "det-real", shared_data / "voc-raccoon"])
    assert len(listing.sources) == 8 and listing.skipped == []
    records, skipped = read_records(listing.entries)
    assert len(records) == 921 + 200 and skipped == []
    assert sum(len(r.boxes) for r in records) == 6710 + 217
    # the COCO crowd regions, kept as <difficult>1</difficult> (grep counts 39)
    assert sum(int(r.ignore.sum()) for r in records) == 39
