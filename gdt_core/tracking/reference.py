"""GDT in the paper's order, without the speed machinery: start reading here.

:class:`ReferenceGDTTracker` is section 3.3 as it reads. ``init``: sample around the given
box, phase 2 (section 3.2) as plain ``torch.optim.SGD`` with momentum on the fc layers through
autograd (:func:`plain_phase2`), then both Gaussians by maximum likelihood (eq. 3).
``update``: score the candidate set X (eq. 4), take the new box (eq. 5, see
:func:`~gdt_core.tracking.tracker.select_box`), decide the gate (section 4: S(x*) >= threshold and
the similarity to the last updated frame), then at the end of the same frame stage 1 (eqs.
6-7) on samples at the new box and, if the gate passed, stage 2 (eqs. 8-11), every fc6
output recomputed from ``net.fc6.weight``.

:class:`~gdt_core.tracking.tracker.GDTTracker` (the one the workflows run) gives the same boxes and
scores (``tests/test_reference.py``) while it learns from frame t when frame t+1 arrives (one
fc6 pass for both), keeps fc6's online steps low-rank until they are worth writing, and runs
phase 2 in the span of the samples. The feature paths (crop or pooled) and the samplers are
shared: this module is about the order of the learning, not how pool5 is read.
"""

from __future__ import annotations

import numpy as np
import torch

from gdt_core.config import Config
from gdt_core.network.network import GDTNet
from gdt_core.tracking.finetune import bayes_loss, draw_batch, online_step
from gdt_core.tracking.gaussian import fit_bayes_layer, update_bayes_layer
from gdt_core.tracking.sampling import sample_candidates
from gdt_core.tracking.tracker import GDTTracker, select_box


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


class ReferenceGDTTracker(GDTTracker):
    """GDT with every step in the paper's order (see the module doc); slow, exact."""

    name = "gdt-reference"

    def _finetune(self, p5: torch.Tensor, n_pos: int) -> torch.Tensor:
        """Phase 2 as :func:`plain_phase2`; the samples' fc6 outputs from the tuned weight."""
        self.phase2_iterations = plain_phase2(self.net, p5[:n_pos], p5[n_pos:], self.cfg, self._rng)
        with torch.no_grad():
            return self.net.fc6_out(p5)

    def update(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Section 3.3 for one frame: forward (eqs. 4-5), stage 1 (eqs. 6-7), stage 2 (eqs.
        8-11) when the gate passes."""
        if self.layer is None:
            raise RuntimeError("ReferenceGDTTracker.update() called before init()")
        cfg, frame = self.cfg, self._frame(image)
        c, s, o, g = cfg.candidates, cfg.sampling, cfg.online, cfg.gaussian
        cands = sample_candidates(
            self._rng, self._box, c.num_scales, c.scale_step, c.search_radius, c.positions_per_scale
        )
        size = (frame.shape[-1], frame.shape[-2])
        region = self._region(self._box, cands)
        read = self._reader(frame, region, self._box)
        with torch.no_grad():
            x = self.net.fc(read(cands))
            scores = self.layer.score(x)  # eq. 4
        box, best = select_box(cands, scores, self._box, c, size)  # eq. 5
        score = float(scores[best])
        learn = self._gate(x[best], score)  # section 4
        # stage 1: samples at x*, ML estimates blended in (eqs. 6-7)
        p5 = self._samples(read, box, s.num_positives, s.num_negatives, size, region)
        with torch.no_grad():
            xs = self.net.fc(p5)
        self.layer = update_bayes_layer(
            self.layer,
            xs[: s.num_positives],
            xs[s.num_positives :],
            g.gamma,
            g.eq7_form,
            g.variance_floor,
        )
        # stage 2: the Gaussians fixed, fc layers stepped on eqs. 8-11
        for _ in range(o.iterations_per_frame if learn else 0):
            with torch.no_grad():
                hidden = self.net.fc6_out(p5)
                xs = self.net.fc_head(hidden)
            online_step(self.net, o.learning_rate, p5, hidden, xs, s.num_positives, self.layer)
        self._box = box
        return box.copy(), score
