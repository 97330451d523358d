"""Patch extraction: IoU bounds of every emitted patch, quotas, determinism, skipped records."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gdt_core.boxes import box_iou
from gdt_core.config import load_config
from gdt_core.data.det import list_entries, read_records
from gdt_core.data.synthetic_det import generate_det
from gdt_core.phase1.objectness import PatchPool
from gdt_core.phase1.patches import (
    PatchParams,
    build_manifest,
    build_shard,
    crop_patch,
    jitter_boxes,
    load_shard,
    plan_shards,
    sample_framing_boxes,
    write_manifest,
)
from tests.test_det import make_broken_voc

CFG = load_config().replace({"network.input_size": 67})
PARAMS = PatchParams.from_config(CFG)


@pytest.fixture(scope="module")
def det_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_det(tmp_path_factory.mktemp("det"), 10, seed=3)


def _annotated(root: Path) -> dict[str, np.ndarray]:
    records, _ = read_records(list_entries(root))
    return {r.image: r.boxes for r in records}


def test_every_negative_is_below_the_iou_bound(det_root: Path, tmp_path: Path) -> None:
    spec = plan_shards(list_entries(det_root), 600, 1, 0.5, seed=1)[0]
    result = build_shard(spec, PARAMS, tmp_path)
    shard = load_shard(tmp_path / result.file)
    assert (result.num_positive, result.num_negative) == (300, 300)
    annotated = _annotated(det_root)
    for box, label, src in zip(shard.boxes, shard.labels, shard.source, strict=True):
        gt = annotated[str(shard.sources[src])]
        best = max(float(box_iou(box, g)[0]) for g in gt)
        if label == 0:
            assert best < CFG.phase1.negative_max_iou
        else:  # a 5% jitter keeps a positive well on its object
            assert best > 0.7
    assert shard.image(0).shape == (67, 67, 3)


def test_quotas_are_met_and_split_over_shards(det_root: Path, tmp_path: Path) -> None:
    specs = plan_shards(list_entries(det_root), 101, 3, 0.5, seed=0)
    assert [(s.num_positive, s.num_negative) for s in specs] == [(17, 17), (17, 17), (16, 17)]
    planned = sorted(e.annotation for s in specs for e in s.entries)
    assert planned == [e.annotation for e in list_entries(det_root)]
    results = [build_shard(s, PARAMS, tmp_path) for s in specs]
    assert sum(r.num_positive + r.num_negative for r in results) == 101


def test_same_seed_same_bytes_other_seed_other_bytes(det_root: Path, tmp_path: Path) -> None:
    entries = list_entries(det_root)
    a = build_shard(plan_shards(entries, 80, 2, 0.5, seed=5)[1], PARAMS, tmp_path / "a")
    b = build_shard(plan_shards(entries, 80, 2, 0.5, seed=5)[1], PARAMS, tmp_path / "b")
    c = build_shard(plan_shards(entries, 80, 2, 0.5, seed=6)[1], PARAMS, tmp_path / "c")
    data = [(tmp_path / d / "shard-00001.npz").read_bytes() for d in "abc"]
    assert data[0] == data[1] and a.sha256 == b.sha256
    assert data[0] != data[2] and c.sha256 != a.sha256


@pytest.mark.shared_data
def test_broken_records_are_skipped_and_their_quota_moves_on(
    shared_data: Path, tmp_path: Path
) -> None:
    root = make_broken_voc(shared_data, tmp_path / "voc")
    spec = plan_shards(list_entries(root), 40, 1, 0.5, seed=0)[0]
    result = build_shard(spec, PARAMS, tmp_path / "out")
    assert (result.num_positive, result.num_negative) == (20, 20)
    assert result.records_used == 2
    assert sorted(s["reason"] for s in result.skipped) == [
        "box outside image",
        "malformed xml",
        "missing image",
        "object without bndbox",
    ]


def test_unreadable_image_is_skipped(det_root: Path, tmp_path: Path) -> None:
    entries = list_entries(det_root)[:2]
    bad = Path(entries[0].image_dir) / f"{entries[0].stem}.jpg"
    saved = bad.read_bytes()
    try:
        bad.write_bytes(b"not a jpeg")
        spec = plan_shards(entries, 10, 1, 0.5, seed=0)[0]
        result = build_shard(spec, PARAMS, tmp_path)
    finally:
        bad.write_bytes(saved)
    assert [s["reason"] for s in result.skipped] == ["unreadable image"]
    assert result.num_positive + result.num_negative == 10


def test_jitter_zero_is_the_box_and_jitter_stays_in_image() -> None:
    rng = np.random.default_rng(0)
    box = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(jitter_boxes(rng, box, 3, 0.0, 100, 100), [box] * 3)
    moved = jitter_boxes(rng, np.array([0.0, 0.0, 50.0, 50.0]), 200, 0.2, 50, 50)
    assert (moved[:, :2] >= 0).all() and (moved[:, :2] + moved[:, 2:] <= 50).all()
    # centre offsets are at most 0.2 x the size (before clipping at the image border)
    inner = jitter_boxes(rng, box, 200, 0.2, 1000, 1000)
    centres = inner[:, :2] + inner[:, 2:] / 2
    assert (np.abs(centres - [25.0, 40.0]) <= [6.0 + 1e-9, 8.0 + 1e-9]).all()


def test_crop_patch_rounds_outward_then_resizes() -> None:
    image = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    # box x 2.5..6.2, y 3.0..7.5 -> pixels x 2..6 (ceil 6.2 = 7 exclusive), y 3..7
    expected = cv2.resize(image[3:8, 2:7], (4, 4), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop_patch(image, np.array([2.5, 3.0, 3.7, 4.5]), 4), expected)


def test_load_shard_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "shard-00000.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="shard-00000.npz"):
        load_shard(bad)


def test_patch_pool_batches_are_the_same_with_decoding_threads(
    det_root: Path, tmp_path: Path
) -> None:
    specs = plan_shards(list_entries(det_root), 24, 2, 0.5, seed=0)
    results = [build_shard(s, PARAMS, tmp_path) for s in specs]
    manifest = build_manifest([str(det_root)], specs, results, PARAMS, 0, 24, CFG.to_dict())
    write_manifest(tmp_path, manifest)
    norm = (CFG.network.mean, CFG.network.std)
    one, four = PatchPool(tmp_path, *norm), PatchPool(tmp_path, *norm, decode_threads=4)
    a = one.batch(np.random.default_rng(1), 16)
    b = four.batch(np.random.default_rng(1), 16)
    assert a[0].shape == (16, 3, 67, 67) and a[0].std() > 0.1  # real, varied patches
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # same order, same pixels


def test_framing_negatives_frame_an_object_badly_as_often_larger_as_smaller() -> None:
    rng = np.random.default_rng(0)
    annotated = np.array([[40.0, 50.0, 60.0, 80.0], [150.0, 20.0, 30.0, 30.0]])
    boxes = sample_framing_boxes(rng, annotated, np.array([0, 1]), 200, 160, 500, (0.1, 0.5), 8)
    assert len(boxes) == 500
    iou = np.stack([box_iou(boxes, gt[None]) for gt in annotated], axis=1)
    assert (iou.max(axis=1) <= 0.5).all() and (iou.max(axis=1) >= 0.1).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, :2] + boxes[:, 2:] <= [200, 160]).all()
    own = annotated[iou.argmax(axis=1)]
    larger = (boxes[:, 2] * boxes[:, 3] > own[:, 2] * own[:, 3]).mean()
    assert 0.35 < larger < 0.65  # looser and tighter framings alike
    # an object of its own in the middle of nowhere yields nothing when none is usable
    assert (
        len(sample_framing_boxes(rng, annotated, np.array([], int), 200, 160, 5, (0.1, 0.5), 8))
        == 0
    )


def test_a_patch_set_with_framing_negatives_counts_them(det_root: Path, tmp_path: Path) -> None:
    framed = PatchParams.from_config(CFG.replace({"phase1.framing_fraction": 0.5}))
    specs = plan_shards(list_entries(det_root), 200, 2, 0.5, seed=1)
    results = [build_shard(s, framed, tmp_path) for s in specs]
    negatives = sum(r.num_negative for r in results)
    framing = sum(r.num_framing for r in results)
    assert negatives == 100 and 40 <= framing <= 50  # half, less what an image could not give
    manifest = build_manifest([str(det_root)], specs, results, framed, 1, 200, {})
    assert manifest["counts"] == {"background": 100, "object": 100, "framing": framing}
    annotated = _annotated(det_root)
    near = 0
    for result in results:
        shard = load_shard(tmp_path / result.file)
        for box, label, src in zip(shard.boxes, shard.labels, shard.source, strict=True):
            best = max(float(box_iou(box, g)[0]) for g in annotated[str(shard.sources[src])])
            assert best < (0.5 + 1e-9 if label == 0 else 1.0)
            near += label == 0 and best >= CFG.phase1.negative_max_iou
    assert near > 0  # some negatives overlap an object more than the paper's far ones may
    plain = [build_shard(s, PARAMS, tmp_path / "plain") for s in specs]
    assert sum(r.num_framing for r in plain) == 0
    assert plain[0].fingerprint != results[0].fingerprint
