"""The tracking-frame picture: boxes land on the right pixels, in their own colours."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gdt_core.data.otb import load_sequence, sequence_table
from gdt_core.data.synthetic_otb import write_synthetic_otb_set
from gdt_core.tracking.frame_view import PALETTE, draw_boxes, save_tracking_frame


def test_boxes_are_drawn_on_their_pixels_in_order_of_the_palette() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    boxes = {"truth": np.array([40.0, 30.0, 10.0, 8.0]), "tracker": np.array([50, 40, 6, 6])}
    out = draw_boxes(image, boxes, scale=2)
    assert out.shape == (120, 160, 3)
    # truth: x 40..49, y 30..37 -> scaled corners (80, 60) and (99, 75), 2 px thick
    assert tuple(out[60, 90]) == PALETTE[0] and tuple(out[75, 90]) == PALETTE[0]
    assert tuple(out[68, 80]) == PALETTE[0] and tuple(out[68, 99]) == PALETTE[0]
    assert tuple(out[68, 90]) == (0, 0, 0)  # inside the box: untouched
    assert tuple(out[80, 105]) == PALETTE[1]  # tracker's left edge: x 50 -> 100..101
    nan_only = draw_boxes(image, {"lost": np.full(4, np.nan)})
    assert not nan_only[20:, :].any()  # a NaN box draws nothing (only the legend, top rows)


def test_synthetic_otb_set_reads_back_and_draws(tmp_path: Path) -> None:
    table_path = write_synthetic_otb_set(tmp_path / "otb", ["SeqA", "SeqB"], 5, seed=1)
    table = sequence_table(table_path)
    assert sorted(table) == ["SeqA", "SeqB"] and table["SeqB"].attributes == ("SV",)
    sequence = load_sequence(tmp_path / "otb", "SeqB", table=table)
    assert len(sequence) == 5
    path = save_tracking_frame(
        sequence, {"GDT": sequence.ground_truth + 2}, 4, tmp_path / "frame.png", scale=2
    )
    picture = cv2.imread(str(path))
    assert picture.shape == (240, 320, 3)
    x, y, w, h = (int(v) * 2 for v in sequence.ground_truth[4])
    assert tuple(picture[y + h // 2, x]) == PALETTE[0]  # ground truth's left edge
