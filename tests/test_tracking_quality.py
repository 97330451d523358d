"""GDT with the ImageNet convolutions tracks scale: a generated target that grows and shrinks,
and a real OTB target whose box must not collapse (it shrank to 2 x 6 px before the fix).
Both skip with a reason where ../shared/weights is absent."""

from __future__ import annotations

import numpy as np
import pytest

from gdt_core.config import load_config
from gdt_core.data.otb import load_sequence, load_sequence_dir
from gdt_core.data.synthetic_otb import write_synthetic_sequence
from gdt_core.metrics.ope import score_sequence
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.tracker import GDTTracker


def _size_ratio(boxes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """sqrt(tracked area / true area) per frame."""
    return np.sqrt(boxes[:, 2] * boxes[:, 3] / (truth[:, 2] * truth[:, 3]))


@pytest.fixture(scope="module")
def tracker(imagenet_conv_weights):
    return GDTTracker(load_config(overrides={"tracker.torch_threads": 2}), imagenet_conv_weights)


def test_the_three_scale_search_follows_a_target_that_grows_and_shrinks(
    imagenet_conv_weights, tmp_path
):
    # eq. 5's arg-max, undamped (top_k 1, scale_damping 1): the 3-scale pyramid of section 4
    # with the near negatives. Size x (1 + 0.35 sin(2 pi t / 120)): 1.35x at frame 30, 0.65x
    # at frame 90; measured 1.20x and 0.69x (the default's k-best mean and damping hold the
    # size nearly still here: 1.03x / 1.00x, the price of its steadier real-target boxes)
    paper = load_config(
        overrides={
            "candidates.top_k": 1,
            "candidates.scale_damping": 1.0,
            "tracker.torch_threads": 2,
        }
    )
    seq = load_sequence_dir(
        write_synthetic_sequence(
            tmp_path,
            "Breathing",
            120,
            seed=5,
            size=(320, 240),
            object_size=(48, 40),
            scale_change=0.35,
        )
    )
    boxes = run_ope(GDTTracker(paper, imagenet_conv_weights), seq).boxes
    truth = seq.ground_truth
    tracked = np.sqrt(boxes[:, 2] * boxes[:, 3] / (truth[0, 2] * truth[0, 3]))
    assert tracked[25:40].max() >= 1.12, tracked[25:40]  # true 1.35x
    assert tracked[85:100].min() <= 0.8, tracked[85:100]  # true 0.65x
    assert np.median(np.abs(np.log(_size_ratio(boxes, truth)))) <= np.log(1.2)


@pytest.mark.shared_data
def test_the_box_keeps_its_size_on_a_real_target(tracker, shared_data):
    seq = load_sequence(shared_data / "otb", "Crossing")  # 17 x 50 px pedestrian, 120 frames
    boxes = run_ope(tracker, seq).boxes
    ratio = _size_ratio(boxes, seq.ground_truth)
    # Measured with the scale pyramid (2 threads): 0.90-1.72x, AUC 0.59; the box grows while
    # the pedestrian's shrinks to 0.77x (issue 18: the scale estimate still drifts upward)
    assert ratio.min() >= 0.6, f"box shrank to {ratio.min():.2f} of the true size"
    assert ratio.max() <= 2.0, f"box grew to {ratio.max():.2f} of the true size"
    assert score_sequence(seq.ground_truth, boxes).auc >= 0.45
