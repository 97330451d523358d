"""GDT in the paper's order, without the speed machinery: start reading here.

:class:`ReferenceGDTTracker` is section 3 as it reads, top to bottom:

``init`` (sections 3.2-3.3): sample positives around the given box and negatives away from
it, phase 2 ("obj-specific") as plain ``torch.optim.SGD`` with momentum on the fc layers
through autograd (:func:`plain_phase2`, eqs. 8-11 as its loss), then both Gaussians by
maximum likelihood (eq. 3).

``update`` (section 3.3, for every later frame): the candidate set X at 3 scales around the
previous box, scored by eq. 4; the new box by eq. 5 (:func:`~gdt_core.tracking.box_choice.
select_box`); section 4's gate (S(x*) >= threshold and the similarity to the last updated
frame); then, at the end of the same frame, stage 1 (eqs. 6-7: new samples at the new box,
their ML estimates blended in with γ) and, if the gate passed, stage 2 (eqs. 8-11: the
Gaussians fixed, one SGD step of the fc layers), every fc6 output recomputed from
``net.fc6.weight``.

What it reads of a frame (the network, pool5 of boxes, the samples) is
:mod:`gdt_core.tracking.frame_reader`'s, shared with :class:`gdt_core.tracking.tracker.GDTTracker`
(the tracker the workflows run), which gives the same boxes and scores
(``tests/test_reference.py``) with its speed machinery.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gdt_core.config import Config
from gdt_core.network.network import GDTNet
from gdt_core.tracking.box_choice import first_box, select_box
from gdt_core.tracking.finetune import bayes_loss, draw_batch, online_step
from gdt_core.tracking.frame_reader import FrameReader, tracking_network
from gdt_core.tracking.gaussian import BayesLayer, fit_bayes_layer, update_bayes_layer
from gdt_core.tracking.sampling import sample_candidates
from gdt_core.tracking.update_gate import UpdateGate


def plain_phase2(
    net: GDTNet,
    pool5_pos: torch.Tensor,
    pool5_neg: torch.Tensor,
    cfg: Config,
    rng: np.random.Generator,
) -> int:
    """Section 3.2 phase 2 written the obvious way: each iteration a batch
    (:func:`~gdt_core.tracking.finetune.draw_batch`), its features through fc6/fc7, both Gaussians
    fitted on it and held fixed, one step of ``torch.optim.SGD`` with momentum on eqs. 8-11
    (:func:`~gdt_core.tracking.finetune.bayes_loss`). Stops after ``phase2.max_iterations`` or once
    the previous batch's Gaussians rank every new positive above every new negative by
    ``phase2.stop_margin``. Returns the iterations taken. ``net`` in eval mode."""
    p2 = cfg.phase2
    opt = torch.optim.SGD(net.fc_parameters(), lr=p2.learning_rate, momentum=p2.momentum)
    layer = None
    for it in range(p2.max_iterations):
        ip, ineg = draw_batch(rng, len(pool5_pos), len(pool5_neg), p2.batch_size)
        x = net.fc(torch.cat([pool5_pos[ip], pool5_neg[ineg]]))
        x_pos, x_neg = x[: len(ip)], x[len(ip) :]
        if layer is not None:
            with torch.no_grad():
                if float(layer.score(x_pos).min() - layer.score(x_neg).max()) >= p2.stop_margin:
                    return it
        layer = fit_bayes_layer(x_pos.detach(), x_neg.detach(), cfg.gaussian.variance_floor)
        opt.zero_grad()
        bayes_loss(x_pos, x_neg, layer).backward()
        opt.step()
    return p2.max_iterations


class ReferenceGDTTracker:
    """GDT with every step in the paper's order (see the module doc); slow, exact."""

    name = "gdt-reference"

    def __init__(self, config: Config, weights: str | Path | None = None) -> None:
        self.cfg = config
        self.net, self._initial_state = tracking_network(config, weights)
        self.reader = FrameReader(config, self.net)
        self.layer: BayesLayer | None = None
        self.gate: UpdateGate | None = None
        self.phase2_iterations = 0

    @property
    def online_updates(self) -> int:
        """Frames whose stage 2 ran since ``init``."""
        return self.gate.updates if self.gate is not None else 0

    def init(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        """Sections 3.2-3.3 on the first frame: samples, phase 2, the initial Gaussians."""
        cfg, s = self.cfg, self.cfg.sampling
        frame = self.reader.frame(image)
        h, w = frame.shape[-2:]
        target = first_box(box, w, h)
        self.net.load_state_dict(self._initial_state)
        self._rng = np.random.default_rng(cfg.seed)
        n_pos, region = s.first_frame_positives, self.reader.region(target, target)
        read = self.reader.pool5(frame, region, target)
        p5 = self.reader.samples(
            self._rng, read, target, n_pos, s.first_frame_negatives, (w, h), region
        )
        self.phase2_iterations = 0
        if cfg.phase2.enabled and cfg.phase2.max_iterations > 0:  # phase 2, fc layers only
            self.phase2_iterations = plain_phase2(self.net, p5[:n_pos], p5[n_pos:], cfg, self._rng)
        with torch.no_grad():
            x = self.net.fc(p5)
        self.layer = fit_bayes_layer(x[:n_pos], x[n_pos:], cfg.gaussian.variance_floor)  # eq. 3
        self.gate = UpdateGate(cfg.online, x[0])  # row 0 is the given box itself
        self._box = target

    def update(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Section 3.3 for one frame: forward (eqs. 4-5), stage 1 (eqs. 6-7), stage 2 (eqs.
        8-11) when the gate passes."""
        if self.layer is None or self.gate is None:
            raise RuntimeError("ReferenceGDTTracker.update() called before init()")
        cfg, frame = self.cfg, self.reader.frame(image)
        s, o = cfg.sampling, cfg.online
        size = (frame.shape[-1], frame.shape[-2])
        # forward: the candidate set X, scored (eq. 4); the new box (eq. 5)
        cands = sample_candidates(self._rng, self._box, cfg.candidates)
        region = self.reader.region(self._box, cands)
        read = self.reader.pool5(frame, region, self._box)
        with torch.no_grad():
            x = self.net.fc(read(cands))
            scores = self.layer.score(x)
        box, best = select_box(cands, scores, self._box, cfg.candidates, size)
        score = float(scores[best])
        learn = self.gate.passes(x[best], score)  # section 4
        # stage 1: samples at x*, their ML estimates blended in (eqs. 6-7)
        p5 = self.reader.samples(
            self._rng, read, box, s.num_positives, s.num_negatives, size, region
        )
        with torch.no_grad():
            xs = self.net.fc(p5)
        n_pos = s.num_positives
        self.layer = update_bayes_layer(self.layer, xs[:n_pos], xs[n_pos:], cfg.gaussian)
        # stage 2: the Gaussians fixed, the fc layers stepped on eqs. 8-11
        for _ in range(o.iterations_per_frame if learn else 0):
            with torch.no_grad():
                hidden = self.net.fc6_out(p5)
                xs = self.net.fc_head(hidden)
            online_step(self.net, o.learning_rate, p5, hidden, xs, n_pos, self.layer)
        self._box = box
        return box.copy(), score
