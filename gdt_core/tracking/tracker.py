"""The GDT tracker (section 3.3) the workflows run: the paper's tracker with speed machinery.

It gives the boxes and scores of :mod:`gdt_core.tracking.reference` (the paper's order, read
that first; ``tests/test_reference.py``) and shares its pieces: what it reads of a frame
(:mod:`~gdt_core.tracking.frame_reader`), the box choice (:mod:`~gdt_core.tracking.box_choice`),
the gate (:mod:`~gdt_core.tracking.update_gate`). What differs is only for speed:

* it learns from frame t when frame t+1 arrives: stage 1 (eqs. 6-7) and stage 2 (eqs. 8-11)
  of frame t run at the start of ``update`` for frame t+1, so that one fc6 pass (151 MB of
  weights) serves frame t's samples and frame t+1's candidates; stage 2 steps from those
  outputs (:func:`~gdt_core.tracking.finetune.online_step`, equal to plain SGD) and shifts the
  candidates' fc6 outputs by its exact low-rank effect
  (:func:`~gdt_core.tracking.finetune.fc6_output_shift`);
* fc6's online steps are written into the weight ``tracker.fc6_flush_rank`` sample rows at a
  time (:class:`~gdt_core.tracking.fc6_steps.Fc6Steps`): between writes ``net.fc6.weight``
  lacks the pending ones, whose effect every fc6 output of the tracker includes;
* phase 2 (section 3.2) keeps fc6 in the span of the first frame's samples
  (:func:`~gdt_core.tracking.finetune.phase2_finetune`).

Scale: with ImageNet features the plain arg-max over 3 scales shrinks the box frame after
frame: stage 1's positives are taken at the chosen box, so a box a step too small makes the
positive Gaussian a box too small, and with far negatives only nothing penalises boxes inside
the target. Near negatives (shifted and scaled, IoU <= 0.5,
:func:`~gdt_core.tracking.sampling.sample_near_negatives`), a variance floor that keeps eq. 3
from resting on a few near-constant attributes, the k-best mean and the damping counter it
(measured: docs/lab-notes/2026-12-02-tracking-quality.md).

Ablations (Table 1): ``online.backprop=false`` ("no bp"), ``phase2.enabled=false``,
``network.feature=pretrained_fc7`` (the plain network's 4096-d fc7). Deterministic for
``cfg.seed`` on the CPU: every random draw comes from one numpy Generator seeded at ``init``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gdt_core.config import Config
from gdt_core.tracking.box_choice import first_box, select_box
from gdt_core.tracking.fc6_steps import Fc6Steps
from gdt_core.tracking.finetune import fc6_output_shift, online_step, phase2_finetune
from gdt_core.tracking.frame_reader import FrameReader, tracking_network
from gdt_core.tracking.gaussian import BayesLayer, fit_bayes_layer, update_bayes_layer
from gdt_core.tracking.sampling import sample_candidates
from gdt_core.tracking.update_gate import UpdateGate


class GDTTracker:
    """GDT behind the :class:`~gdt_core.tracking.interface.Tracker` interface (0-based
    ``x, y, w, h``)."""

    name = "gdt"

    def __init__(self, config: Config, weights: str | Path | None = None) -> None:
        self.cfg = config
        if config.tracker.torch_threads > 0:
            torch.set_num_threads(config.tracker.torch_threads)
        self.net, self._initial_state = tracking_network(config, weights)
        self.reader = FrameReader(config, self.net)
        self.layer: BayesLayer | None = None
        self.gate: UpdateGate | None = None
        self.phase2_iterations = 0

    @property
    def online_updates(self) -> int:
        """Frames whose stage 2 ran (section 4's gate passed) since ``init``."""
        return self.gate.updates if self.gate is not None else 0

    # -- Tracker interface ----------------------------------------------------------------
    def init(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        """Section 3.2 phase 2 and the initial Gaussians, from the first frame's ``box``."""
        frame = self.reader.frame(image)
        h, w = frame.shape[-2:]
        arr = first_box(box, w, h)
        cfg, s = self.cfg, self.cfg.sampling
        self.net.load_state_dict(self._initial_state)
        self._rng = np.random.default_rng(cfg.seed)
        n_pos, region = s.first_frame_positives, self.reader.region(arr, arr)
        read = self.reader.pool5(frame, region, arr)
        p5 = self.reader.samples(
            self._rng, read, arr, n_pos, s.first_frame_negatives, (w, h), region
        )
        hidden = self._phase2(p5, n_pos)
        with torch.no_grad():
            x = self.net.fc_head(hidden)
        self.layer = fit_bayes_layer(x[:n_pos], x[n_pos:], cfg.gaussian.variance_floor)
        self.gate = UpdateGate(cfg.online, x[0])  # row 0 is the given box itself
        self._fc6_steps = Fc6Steps(self.net.fc6.weight, cfg.tracker.fc6_flush_rank)
        self._box = arr
        self._pending: _Pending | None = None

    def _phase2(self, p5: torch.Tensor, n_pos: int) -> torch.Tensor:
        """Section 3.2 phase 2 on the first frame's samples (``n_pos`` positives first), when
        enabled (:func:`~gdt_core.tracking.finetune.phase2_finetune`, in the span of the
        samples); returns their fc6 outputs (before the ReLU) under the resulting weights."""
        p2 = self.cfg.phase2
        self.phase2_iterations = 0
        if not (p2.enabled and p2.max_iterations > 0):
            with torch.no_grad():
                return self.net.fc6_out(p5)
        tuned = phase2_finetune(self.net, p5[:n_pos], p5[n_pos:], self.cfg, self._rng)
        self.phase2_iterations = tuned.iterations
        return tuned.fc6_out

    def update(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Track one frame: the new box and its score S(x*) (eqs. 4-5), then learn from it.

        The previous frame's learning (stage 1 on its samples, then stage 2 if its gate
        passed) runs here, first: its samples and this frame's candidates share one fc6 pass
        with the previous weights, and stage 2's change of fc6 on the candidates is added
        exactly by :func:`~gdt_core.tracking.finetune.fc6_output_shift`. The order of operations and
        every result are those of learning at the end of the previous frame.
        """
        if self.layer is None or self.gate is None:
            raise RuntimeError("GDTTracker.update() called before init()")
        cfg, frame = self.cfg, self.reader.frame(image)
        cands = sample_candidates(self._rng, self._box, cfg.candidates)
        pending, size = self._pending, (frame.shape[-1], frame.shape[-2])
        region = self.reader.region(self._box, cands)
        read = self.reader.pool5(frame, region, self._box)
        with torch.no_grad():
            rows = read(cands)
        if pending is not None:
            rows = torch.cat([pending.pool5, rows])
        with torch.no_grad():
            # eval: fc == fc_head(fc6_out); the stage-2 steps not yet written into fc6 added
            hidden = self.net.fc6_out(rows)
            self._fc6_steps.add_output_shift(rows, hidden)
        if pending is not None:
            hidden = self._learn(self.layer, pending, rows, hidden)[len(pending.pool5) :]
        with torch.no_grad():
            x = self.net.fc_head(hidden)
            scores = self.layer.score(x)
        box, best = select_box(cands, scores, self._box, cfg.candidates, size)
        score = float(scores[best])
        learn = self.gate.passes(x[best], score)
        # Stage 1's samples at x*, learnt from when the next frame arrives (see above).
        s = cfg.sampling
        p5 = self.reader.samples(
            self._rng, read, box, s.num_positives, s.num_negatives, size, region
        )
        self._pending = _Pending(p5, learn)
        self._box = box
        return box.copy(), score

    def _learn(
        self, layer: BayesLayer, pending: _Pending, rows: torch.Tensor, hidden: torch.Tensor
    ) -> torch.Tensor:
        """Stage 1 (eqs. 6-7) on the pending samples -- the first rows of ``rows`` -- then, if
        their frame passed the gate, stage 2's fc-only iterations (eqs. 8-11). Returns the fc6
        outputs of all ``rows`` under the updated weights."""
        n, o = len(pending.pool5), self.cfg.online
        n_pos = self.cfg.sampling.num_positives
        with torch.no_grad():
            xs = self.net.fc_head(hidden[:n])
        self.layer = update_bayes_layer(layer, xs[:n_pos], xs[n_pos:], self.cfg.gaussian)
        for step in range(o.iterations_per_frame if pending.learn else 0):
            if step > 0:  # the previous iteration moved fc6 and fc7
                with torch.no_grad():
                    xs = self.net.fc_head(hidden[:n])
            grad = online_step(
                self.net,
                o.learning_rate,
                pending.pool5,
                hidden[:n],
                xs,
                n_pos,
                self.layer,
                self._fc6_steps,
            )
            with torch.no_grad():
                hidden += fc6_output_shift(rows, pending.pool5, grad, o.learning_rate)
        return hidden


@dataclass(frozen=True)
class _Pending:
    """A frame's stage-1 samples (flattened pool5, ``sampling.num_positives`` positives
    first) and whether its stage-2 gate passed."""

    pool5: torch.Tensor
    learn: bool
