"""The reference GDT (gdt_core.tracking.reference: the paper's order, plain SGD through autograd)
and the tracker the workflows run give the same results."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.tracking.finetune import phase2_finetune
from gdt_core.tracking.reference import ReferenceGDTTracker, plain_phase2
from gdt_core.tracking.tracker import GDTTracker
from gdt_core.tracking.trackers import make_tracker
from tests.test_gaussian import _small_net
from tests.test_tracker import FAST, _frame_with_square


@pytest.fixture(scope="module")
def cfg():
    return load_config(overrides=FAST)


@pytest.mark.parametrize("stop_margin", [math.inf, -5.0])
def test_phase2_in_the_span_of_the_samples_equals_plain_sgd_with_momentum(stop_margin):
    # fc6 kept as W0 + A S with momentum in A: the same steps and the same stopping
    # iteration as torch's SGD on W itself (float64, 12 iterations or an early stop).
    cfg = load_config().replace(
        {
            "phase2.max_iterations": 12,
            "phase2.batch_size": 8,
            "phase2.learning_rate": 0.002,
            "phase2.stop_margin": stop_margin,
        }
    )
    net = _small_net()
    twin = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(5)
    pos = torch.rand(6, 256, 6, 6, generator=gen, dtype=torch.float64)
    neg = torch.rand(10, 256, 6, 6, generator=gen, dtype=torch.float64) + 0.2
    result = phase2_finetune(net, pos, neg, cfg, np.random.default_rng(0))
    want = plain_phase2(twin, pos, neg, cfg, np.random.default_rng(0))
    assert result.iterations == want
    assert (want == 12) == (stop_margin == math.inf)  # one case runs out, one stops early
    for (name, got), (_, ref) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
        torch.testing.assert_close(got, ref, msg=name)
    assert not torch.equal(net.fc6.weight, _small_net().fc6.weight)
    assert all(p.grad is None for p in net.parameters())
    # the samples' fc6 outputs it returns are those of the weights it wrote
    with torch.no_grad():
        torch.testing.assert_close(result.fc6_out, net.fc6(torch.cat([pos, neg]).flatten(1)))


@pytest.mark.parametrize("flush_rank", [0, 30])
def test_deferred_learning_gives_the_boxes_of_learning_at_once(cfg, flush_rank):
    # GDTTracker learns from frame t when frame t+1 arrives (one fc6 pass for both, stage 2's
    # effect added exactly) and writes fc6's steps 0 or 30 sample rows at a time (12 a step:
    # written after steps 3 and 6): boxes and scores must be those of the textbook order.
    every = cfg.replace(
        {
            "online.score_threshold": -1e9,
            "online.similarity_threshold": -1,
            "seed": 2,
            "tracker.fc6_flush_rank": flush_rank,
        }
    )
    got = [GDTTracker(every), ReferenceGDTTracker(every)]
    for tracker in got:
        tracker.init(_frame_with_square(30, 20), (30, 20, 16, 16))
    ref_layer = got[1].layer
    for i in range(1, 8):
        image = _frame_with_square(30 + 3 * i, 20 + i)
        (box, score), (ref_box, ref_score) = (t.update(image) for t in got)
        np.testing.assert_allclose(box, ref_box, atol=1e-9)
        # float32 rounding only: on this flat synthetic frame the variances sit near the floor,
        # and S sums 500 terms (x - mu)^2 / var, so fc6's rounding (~3e-7 relative, oneDNN)
        # reaches S at ~1e-3 relative (measured up to 1.4e-3; the boxes above are exact)
        assert score == pytest.approx(ref_score, rel=5e-3, abs=1e-2)
        # frame i scored with the Gaussians the reference had after frame i - 1
        torch.testing.assert_close(got[0].layer.pos.var, ref_layer.pos.var, rtol=1e-3, atol=1e-4)
        ref_layer = got[1].layer
    assert got[0].online_updates == 7  # learning ran on every frame


def test_reference_is_a_tracker_by_name(cfg):
    assert make_tracker("gdt-reference", cfg).name == "gdt-reference"


def test_the_reference_stands_alone() -> None:
    """reference.py reads top to bottom without tracker.py: it imports nothing from it and
    inherits nothing (what both need lives in modules both import)."""
    import ast
    import inspect

    from gdt_core.tracking import reference

    tree = ast.parse(inspect.getsource(reference))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "gdt_core.tracking.tracker" not in imported
    assert not issubclass(ReferenceGDTTracker, GDTTracker)
