"""COCO instances JSON and multi-source roots: crowd regions, bad records, per-source counts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gdt_core.boxes import box_iou
from gdt_core.data.coco import CocoFormatError, read_coco
from gdt_core.data.det import count_reasons, read_record
from gdt_core.data.det_sources import data_sets, list_det_roots
from gdt_core.data.synthetic_det import generate_det
from gdt_core.phase1.patches import (
    PatchParams,
    build_manifest,
    build_shard,
    load_shard,
    plan_shards,
)

PARAMS = PatchParams(67, 0.05, 0.3, 8, 90)


def _image(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def make_coco(root: Path) -> Path:
    """``root/annotations/instances_train2017.json`` + ``root/train2017/``: 3 good images
    (one with a crowd region) and 5 bad records."""
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 200, "height": 160},
        {"id": 2, "file_name": "b.jpg", "width": 180, "height": 120},
        {"id": 3, "file_name": "c.jpg", "width": 160, "height": 160},
        {"id": 4, "file_name": "d.jpg", "width": 100, "height": 100},  # box outside
        {"id": 5, "file_name": "e.jpg", "width": 100, "height": 100},  # bbox of 3 numbers
        {"id": 6, "file_name": "f.jpg", "width": 100, "height": 100},  # unknown category
        {"id": 7, "file_name": "g.jpg", "width": 0, "height": 100},  # invalid image entry
    ]
    anns = [
        {"id": 10, "image_id": 1, "bbox": [20.5, 30.0, 60.0, 50.0], "category_id": 1},
        {"id": 11, "image_id": 1, "bbox": [110, 20, 80, 120], "category_id": 2, "iscrowd": 1},
        {"id": 12, "image_id": 2, "bbox": [10, 10, 100, 90], "category_id": 2, "iscrowd": 0},
        {"id": 13, "image_id": 3, "bbox": [40, 40, 70, 70], "category_id": 1},
        {"id": 14, "image_id": 4, "bbox": [50, 50, 80, 20], "category_id": 1},
        {"id": 15, "image_id": 5, "bbox": [1, 2, 3], "category_id": 1},
        {"id": 16, "image_id": 6, "bbox": [1, 2, 30, 30], "category_id": 99},
        {"id": 17, "image_id": 99, "bbox": [1, 2, 30, 30], "category_id": 1},  # unknown image
    ]
    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "dining table"}]
    for im in images:
        _image(root / "train2017" / im["file_name"], max(im["width"], 8), im["height"], im["id"])
    path = root / "annotations" / "instances_train2017.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_coco_records_boxes_crowds_and_bad_records(tmp_path: Path) -> None:
    path = make_coco(tmp_path / "coco")
    entries, skipped = read_coco(path, tmp_path / "coco", "coco")
    assert [Path(e.parsed.image).name for e in entries] == ["a.jpg", "b.jpg", "c.jpg"]
    a = read_record(entries[0])
    np.testing.assert_array_equal(a.boxes, [[20.5, 30, 60, 50], [110, 20, 80, 120]])
    assert a.names == ("person", "dining table") and a.ignore.tolist() == [False, True]
    assert (a.width, a.height) == (200, 160) and entries[0].source == "coco"
    assert count_reasons(skipped) == {
        "box outside image": 1,
        "invalid bbox": 1,
        "invalid image entry": 1,
        "unknown category": 1,
        "unknown image": 1,
    }
    assert any(s.path.endswith("#image=4") for s in skipped)


def test_crowd_regions_are_neither_object_nor_background(tmp_path: Path) -> None:
    path = make_coco(tmp_path / "coco")
    entries, _ = read_coco(path, tmp_path / "coco", "coco")
    spec = plan_shards(entries[:1], 60, 1, 0.5, seed=0)[0]  # image a: person + crowd
    result = build_shard(spec, PARAMS, tmp_path / "out")
    shard = load_shard(tmp_path / "out" / result.file)
    person, crowd = np.array([[20.5, 30, 60, 50]]), np.array([[110, 20, 80, 120]])
    pos, neg = shard.boxes[shard.labels == 1], shard.boxes[shard.labels == 0]
    assert len(pos) == 30 and len(neg) == 30
    assert box_iou(pos, person).min() > 0.8  # every positive is the person (jittered)
    assert box_iou(neg, crowd).max() < PARAMS.negative_max_iou
    assert box_iou(neg, person).max() < PARAMS.negative_max_iou
    assert result.positives_per_source == {"coco": 30}
    assert result.negatives_per_source == {"coco": 30}


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "annotations" / "instances_train.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"images": [],\n "annotations": [,]\n}')
    with pytest.raises(CocoFormatError, match=r"instances_train.json:2: not valid JSON"):
        read_coco(path, tmp_path)
    path.write_text('{"images": []}')
    with pytest.raises(CocoFormatError, match="not a COCO instances file"):
        read_coco(path, tmp_path)


def test_a_folder_of_data_sets_and_several_roots(tmp_path: Path) -> None:
    many = tmp_path / "many"
    generate_det(many / "voc-a", 3, seed=1)
    make_coco(many / "coco-b")
    (many / "notes").mkdir()  # neither layout: ignored inside a folder of data sets
    single = generate_det(tmp_path / "single", 2, seed=2)
    assert [(d.name, kind) for d, kind in data_sets(many)] == [
        ("coco-b", "coco"),
        ("voc-a", "voc"),
    ]
    listing = list_det_roots([many, single])
    assert listing.sources == ["many/coco-b", "many/voc-a", "single"]
    by_source = {s: sum(e.source == s for e in listing.entries) for s in listing.sources}
    assert by_source == {"many/coco-b": 3, "many/voc-a": 3, "single": 2}
    assert len(listing.skipped) == 5
    specs = plan_shards(listing.entries, 80, 2, 0.5, seed=0)
    results = [build_shard(s, PARAMS, tmp_path / "out") for s in specs]
    manifest = build_manifest(
        [str(many), str(single)], specs, results, PARAMS, 0, 80, {}, listing.skipped
    )
    assert sum(manifest["positives_per_source"].values()) == manifest["counts"]["object"] == 40
    assert set(manifest["positives_per_source"]) == set(listing.sources)
    assert manifest["skipped_count"] == 5 and manifest["records_listed"] == 13
    with pytest.raises(FileNotFoundError, match="notes"):
        data_sets(many / "notes")
