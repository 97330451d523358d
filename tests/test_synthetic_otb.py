"""Generated OTB sequences: real OTB folders, deterministic, object where the ground truth says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gdt_core.data.otb import load_sequence_dir
from gdt_core.data.synthetic_otb import write_synthetic_sequence


def test_writes_an_otb_folder_with_exact_ground_truth(tmp_path: Path):
    folder = write_synthetic_sequence(tmp_path, "Toy", 8, seed=5, size=(120, 90), scale_change=0.2)
    assert sorted(p.name for p in (folder / "img").iterdir())[:2] == ["0001.jpg", "0002.jpg"]
    first_line = (folder / "groundtruth_rect.txt").read_text().splitlines()[0]
    seq = load_sequence_dir(folder)
    assert len(seq) == 8
    x, y, w, h = seq.ground_truth[0]
    assert first_line == f"{x + 1:.3f},{y + 1:.3f},{w:.3f},{h:.3f}"  # 1-based in the file
    boxes = seq.ground_truth
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 120).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 90).all()
    assert len({tuple(b) for b in boxes}) > 1  # the object moves
    for i in (0, 7):  # the object's white border lies on the box edge
        x, y, w, h = seq.ground_truth[i].astype(int)
        top_edge = seq.frame(i)[y, x : x + w].astype(float)
        assert top_edge.mean() > 200


def test_deterministic_for_a_seed(tmp_path: Path):
    a = write_synthetic_sequence(tmp_path / "a", "Toy", 3, seed=7)
    b = write_synthetic_sequence(tmp_path / "b", "Toy", 3, seed=7)
    c = write_synthetic_sequence(tmp_path / "c", "Toy", 3, seed=8)
    for name in ("img/0003.jpg", "groundtruth_rect.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "img/0003.jpg").read_bytes() != (c / "img/0003.jpg").read_bytes()


def test_grayscale_option(tmp_path: Path):
    folder = write_synthetic_sequence(tmp_path, "Gray", 2, seed=0, grayscale=True)
    assert cv2.imread(str(folder / "img" / "0001.jpg"), cv2.IMREAD_UNCHANGED).ndim == 2
    frame = load_sequence_dir(folder).frame(0)
    assert frame.shape == (120, 160, 3) and np.array_equal(frame[..., 0], frame[..., 1])


def test_object_too_big_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="too big"):
        write_synthetic_sequence(tmp_path, "Big", 2, seed=0, size=(40, 30), object_size=(40, 10))
