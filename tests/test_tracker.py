"""The GDT tracker end to end on generated frames: tracking, borders, grayscale, bad boxes,
determinism, ablation switches and weights files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.data.otb import load_sequence_dir
from gdt_core.data.synthetic_otb import write_synthetic_sequence
from gdt_core.metrics.ope import score_sequence
from gdt_core.network.network import WeightsError
from gdt_core.tracking.box_choice import select_box
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.tracker import GDTTracker
from gdt_core.tracking.trackers import make_tracker

# Small and fast: 32 px targets in the pooled region, few samples, a short phase 2.
FAST = {
    "tracker.candidate_features": "pooled",
    "network.input_size": 99,
    "tracker.pooled_target_size": 32,
    "sampling.first_frame_positives": 16,
    "sampling.first_frame_negatives": 32,
    "sampling.num_positives": 4,
    "sampling.num_negatives": 8,
    "candidates.positions_per_scale": 12,
    "phase2.max_iterations": 3,
    "phase2.batch_size": 16,
    "tracker.torch_threads": 1,
}


@pytest.fixture(scope="module")
def cfg():
    return load_config(overrides=FAST)


@pytest.fixture(scope="module")
def moving_sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("otb")
    return load_sequence_dir(write_synthetic_sequence(root, "Moving", 50, seed=3))


def _blank(w=96, h=72, value=90):
    return np.full((h, w, 3), value, np.uint8)


def _frame_with_square(x, y, w=96, h=72, side=16):
    img = _blank(w, h)
    rng = np.random.default_rng(0)
    patch = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + side, w), min(y + side, h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    return img


_FEW_SAMPLES = {
    "sampling.first_frame_positives": 16,
    "sampling.first_frame_negatives": 32,
    "sampling.num_positives": 4,
    "sampling.num_negatives": 8,
    "candidates.positions_per_scale": 12,
    "phase2.enabled": False,
    "tracker.candidate_features": "pooled",
    "tracker.torch_threads": 1,
}


def test_follows_a_moving_textured_object(moving_sequence):
    # The seeded random-init network (the fallback without weights), fewer samples, phase 2
    # off: it keeps the object (precision) but not its size, which grows. Measured: precision
    # 1.00, AUC 0.36 (0.40 with one conv pass for all scales); with the ImageNet convolutions
    # the same run scores 0.80 (next test).
    cfg = load_config(overrides=_FEW_SAMPLES)
    result = run_ope(GDTTracker(cfg), moving_sequence)
    curves = score_sequence(moving_sequence.ground_truth, result.boxes)
    assert curves.precision_score >= 0.9
    assert curves.auc >= 0.3


def test_follows_a_moving_textured_object_with_imagenet_features(
    moving_sequence, imagenet_conv_weights
):
    # The default scale pyramid on ImageNet conv features. Measured: AUC 0.80 (0.81 with one
    # conv pass for all scales), precision 1.00.
    cfg = load_config(overrides=_FEW_SAMPLES)
    assert cfg.tracker.pooled_pyramid
    result = run_ope(GDTTracker(cfg, imagenet_conv_weights), moving_sequence)
    curves = score_sequence(moving_sequence.ground_truth, result.boxes)
    assert curves.precision_score >= 0.9
    assert curves.auc >= 0.65


@pytest.mark.parametrize("path", ["crop", "pooled"])
def test_both_candidate_paths_run(cfg, path):
    tracker = GDTTracker(cfg.replace({"tracker.candidate_features": path}))
    tracker.init(_frame_with_square(40, 30), (40, 30, 16, 16))
    box, score = tracker.update(_frame_with_square(43, 31))
    assert np.isfinite(box).all() and np.isfinite(score)


def test_target_touching_and_leaving_the_border(cfg):
    tracker = GDTTracker(cfg)
    tracker.init(_frame_with_square(0, 20), (0, 20, 16, 16))  # touching the left border
    for x in range(0, -40, -6):  # ... then leaving the image
        box, score = tracker.update(_frame_with_square(x, 20))
        assert np.isfinite(box).all() and np.isfinite(score)
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        assert 0 <= cx <= 96 and 0 <= cy <= 72  # searched for at the border, not lost
        assert box[2] >= 2 and box[3] >= 2


def test_grayscale_frames_equal_their_three_channel_copies(cfg):
    frames = [_frame_with_square(30 + 2 * i, 20 + i)[:, :, 1] for i in range(3)]
    boxes = []
    for to_input in (lambda f: f, lambda f: np.repeat(f[:, :, None], 3, axis=2)):
        tracker = GDTTracker(cfg)
        tracker.init(to_input(frames[0]), (30, 20, 16, 16))
        boxes.append([tracker.update(to_input(f))[0] for f in frames[1:]])
    assert np.array_equal(np.array(boxes[0]), np.array(boxes[1]))


@pytest.mark.parametrize(
    "box",
    [
        (10, 10, 1, 1),
        (10, 10, 0, 0),
        (10, 10, 12, 0),
        (10, 10, -5, 8),
        (np.nan, 1, 5, 5),
        (1, 2, 3),
    ],
)
def test_degenerate_initial_box_is_a_clear_error(cfg, box):
    with pytest.raises(ValueError, match="initial box"):
        GDTTracker(cfg).init(_blank(), box)


def test_initial_box_outside_the_image_is_an_error(cfg):
    with pytest.raises(ValueError, match="outside"):
        GDTTracker(cfg).init(_blank(), (200, 10, 10, 10))


def test_update_before_init_is_an_error(cfg):
    with pytest.raises(RuntimeError, match="before init"):
        GDTTracker(cfg).update(_blank())


def _track(tracker, n=4):
    tracker.init(_frame_with_square(30, 20), (30, 20, 16, 16))
    return np.array(
        [tracker.update(_frame_with_square(30 + 3 * i, 20 + i))[0] for i in range(1, n)]
    )


def test_deterministic_for_a_seed_and_reinit_restarts(cfg):
    tracker = GDTTracker(cfg)
    first = _track(tracker)
    assert np.array_equal(first, _track(GDTTracker(cfg)))
    assert np.array_equal(first, _track(tracker))  # init() resets the fine-tuned weights


def _fc_weights(tracker) -> list[torch.Tensor]:
    return [p.detach().clone() for p in tracker.net.fc_parameters()]


def _fc_change_while_tracking(tracker, n=4) -> float:
    """Largest change of an fc weight between the end of init and frame ``n``."""
    tracker.init(_frame_with_square(30, 20), (30, 20, 16, 16))
    before = _fc_weights(tracker)
    for i in range(1, n):
        tracker.update(_frame_with_square(30 + 3 * i, 20 + i))
    tracker._fc6_steps.flush()  # pending low-rank fc6 steps written into the weight
    return max(
        float((a - b).abs().max()) for a, b in zip(_fc_weights(tracker), before, strict=True)
    )


def test_ablation_switches(cfg):
    gate_open = {"online.score_threshold": -1e9, "online.similarity_threshold": -1}
    no_bp = GDTTracker(cfg.replace({"online.backprop": False, **gate_open}))
    assert _fc_change_while_tracking(no_bp) == 0.0  # "no bp": the fc layers never move
    assert no_bp.online_updates == 0
    bp = GDTTracker(cfg.replace(gate_open))
    assert _fc_change_while_tracking(bp) > 0.0
    assert bp.online_updates == 3
    no_p2 = GDTTracker(cfg.replace({"phase2.enabled": False, "online.backprop": False}))
    no_p2.init(_frame_with_square(30, 20), (30, 20, 16, 16))
    initial = {k: v for k, v in no_p2._initial_state.items() if k.startswith("fc")}
    for key, value in initial.items():  # phase 2 off: init leaves the network as loaded
        assert torch.equal(no_p2.net.state_dict()[key], value), key
    p2 = GDTTracker(cfg)
    p2.init(_frame_with_square(30, 20), (30, 20, 16, 16))
    assert not torch.equal(p2.net.fc7.weight, p2._initial_state["fc7.weight"])
    assert no_p2.phase2_iterations == 0
    plain = GDTTracker(cfg.replace({"network.feature": "pretrained_fc7"}))
    _track(plain)
    assert plain.layer.pos.mean.shape == (4096,)


def _torchvision_state(fc7_width=4096):
    """A torchvision-layout AlexNet state dict (features.*, classifier.1/.4/.6)."""
    gen = torch.Generator().manual_seed(7)
    shapes = {
        "features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
        "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
        "features.10": (256, 256, 3, 3), "classifier.1": (4096, 9216),
        "classifier.4": (fc7_width, 4096), "classifier.6": (1000, fc7_width),
    }  # fmt: skip
    state = {}
    for name, shape in shapes.items():
        state[f"{name}.weight"] = torch.randn(shape, generator=gen) * 0.01
        state[f"{name}.bias"] = torch.randn(shape[0], generator=gen) * 0.01
    return state


def test_torchvision_weights_load_with_fc7_reinitialised(cfg, tmp_path):
    path = tmp_path / "alexnet.pth"
    state = _torchvision_state()
    torch.save(state, path)
    tracker = GDTTracker(cfg, weights=path)
    assert torch.equal(tracker.net.features[3].weight, state["features.3.weight"])
    assert torch.equal(tracker.net.fc6.weight, state["classifier.1.weight"])
    assert tracker.net.fc7.weight.shape == (500, 4096)  # 3.1: fc7 reduced, re-initialised
    plain = GDTTracker(cfg.replace({"network.feature": "pretrained_fc7"}), weights=path)
    assert torch.equal(plain.net.fc7.weight, state["classifier.4.weight"])
    _track(tracker, n=2)


def test_truncated_weights_file_is_a_clear_error(cfg, tmp_path):
    path = tmp_path / "alexnet.pth"
    torch.save(_torchvision_state(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="alexnet.pth"):
        GDTTracker(cfg, weights=path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "alexnet.pth: empty file, not a weights file$"),
        (bytes(range(256)) * 8, "alexnet.pth: not a torch weights file"),
        (None, "alexnet.pth: it holds Python objects, not only tensors; refused"),
    ],
)
def test_bad_weights_files_say_what_they_are_never_torchs_advice(cfg, tmp_path, content, expected):
    path = tmp_path / "alexnet.pth"
    if content is None:
        torch.save({"features.0.weight": object()}, path)  # a pickle of arbitrary objects
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=expected) as err:
        GDTTracker(cfg, weights=path)
    assert "weights_only=False" not in str(err.value) and "\n" not in str(err.value)


def test_make_tracker_names(cfg):
    assert make_tracker("gdt", cfg).name == "gdt"
    with pytest.raises(ValueError, match="unknown tracker"):
        make_tracker("siamfc", cfg)


@pytest.mark.parametrize("name", ["csrt", "kcf", "mil"])
def test_opencv_baselines_follow_the_object(cfg, moving_sequence, name):
    result = run_ope(make_tracker(name, cfg), moving_sequence)
    assert score_sequence(moving_sequence.ground_truth, result.boxes).precision_score >= 0.5


def test_opencv_baseline_without_contrib_names_the_missing_package(cfg, monkeypatch):
    import cv2

    monkeypatch.delattr(cv2, "TrackerCSRT")
    tracker = make_tracker("csrt", cfg)  # making it needs no contrib ...
    with pytest.raises(RuntimeError, match="TrackerCSRT.*opencv-contrib-python-headless"):
        tracker.init(np.zeros((32, 32, 3), np.uint8), (4, 4, 8, 8))  # ... running it does


def test_cuda_without_a_gpu_is_a_clear_error(cfg, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="tracker.device=cuda.*no CUDA GPU"):
        GDTTracker(cfg.replace({"tracker.device": "cuda"}))


def test_select_box_is_the_arg_max_or_the_k_best_mean_with_damped_size(cfg):
    cands = np.array([[10, 10, 20, 10], [14, 8, 40, 20], [0, 0, 5, 5.0]])
    scores = torch.tensor([3.0, 5.0, -1.0])
    prev = np.array([10.0, 10.0, 20.0, 10.0])
    plain = dataclasses.replace(cfg.candidates, top_k=1, scale_damping=1.0)
    box, best = select_box(cands, scores, prev, plain, (200, 100))
    assert best == 1 and np.allclose(box, cands[1])  # eq. 5
    two = dataclasses.replace(cfg.candidates, top_k=2, scale_damping=0.5)
    box, best = select_box(cands, scores, prev, two, (200, 100))
    # centres (34, 18) and (20, 15) -> (27, 16.5); sizes: geometric mean sqrt(20 * 40) =
    # 28.28 x sqrt(10 * 20) = 14.14, i.e. 1.414x the previous 20 x 10, damped to 1.414^0.5
    factor = np.sqrt(np.sqrt(2.0))
    w, h = 20 * factor, 10 * factor
    assert best == 1
    np.testing.assert_allclose(box, [27 - w / 2, 16.5 - h / 2, w, h])
