"""The GDT tracker (section 3.3): ``init`` on the first frame, ``update`` on every later one.

init   -- sample positives/negatives around the given box, phase-2 fine-tune the fc layers on
          them (section 3.2, optional), estimate both Gaussians by maximum likelihood.
update -- forward: score the candidate set X (eq. 4), take the arg-max (eq. 5; with
          ``candidates.top_k`` > 1 the mean of the k best boxes, its size change damped by
          ``candidates.scale_damping``), re-sample at the new location and blend the
          Gaussians (stage 1, eqs. 6-7); backward: one fc-only iteration (stage 2, eqs.
          8-11) when S(x*) >= ``online.score_threshold`` and the cosine similarity of x*'s
          features to those of the last updated frame's target is >=
          ``online.similarity_threshold``. fc6 (151 MB of weights) runs once per frame on
          the previous frame's samples and this frame's candidates together; stage 2 steps
          from those outputs (:func:`~gdt_core.tracking.finetune.online_step`, equal to plain SGD)
          and shifts the candidates' fc6 outputs by its exact low-rank effect. fc6's weight steps
          are written into the weight ``tracker.fc6_flush_rank`` sample rows at a time
          (:class:`~gdt_core.tracking.fc6_steps.Fc6Steps`): between writes ``net.fc6.weight`` lacks
          the pending ones, whose effect every fc6 output of the tracker includes.

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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gdt_core.config import CandidatesConfig, Config
from gdt_core.network.features import PooledRegion, crop_pool5
from gdt_core.network.images import frame_tensor
from gdt_core.network.network import build_network, load_pretrained
from gdt_core.tracking.fc6_steps import Fc6Steps
from gdt_core.tracking.finetune import (
    cosine_similarity,
    fc6_output_shift,
    online_step,
    phase2_finetune,
)
from gdt_core.tracking.gaussian import BayesLayer, fit_bayes_layer, update_bayes_layer
from gdt_core.tracking.sampling import (
    MIN_BOX_SIDE,
    sample_candidates,
    sample_far_negatives,
    sample_near_negatives,
    sample_positives,
    scale_factors,
    working_region,
)


class GDTTracker:
    """GDT behind the :class:`~gdt_core.tracking.interface.Tracker` interface (0-based
    ``x, y, w, h``)."""

    name = "gdt"

    def __init__(self, config: Config, weights: str | Path | None = None) -> None:
        self.cfg = config
        if config.tracker.torch_threads > 0:
            torch.set_num_threads(config.tracker.torch_threads)
        self.device = torch.device(config.tracker.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "tracker.device=cuda, but torch sees no CUDA GPU here (a CPU build of torch, "
                "or a Ray actor/trial given no GPU: ray.actor_num_gpus / --trial-gpus)"
            )
        net = build_network(config.network, config.seed)
        if weights is not None:
            load_pretrained(weights, net)
        self._initial_state = {k: v.clone() for k, v in net.state_dict().items()}
        self.net = net.to(self.device).eval()  # dropout belongs to phase 1 only
        self.net.features.requires_grad_(False)  # phase 2 and online: fc layers only
        # Conv weights stored channels-last like the activations (GDTNet.conv5): oneDNN
        # otherwise re-orders every weight on every call (~1.3 ms per conv pass on the CPU).
        self.net.features.to(memory_format=torch.channels_last)
        self.layer: BayesLayer | None = None
        self.phase2_iterations = 0
        self.online_updates = 0

    # -- features -------------------------------------------------------------------------
    def _frame(self, image: np.ndarray) -> torch.Tensor:
        net = self.cfg.network
        return frame_tensor(image, net.mean, net.std, str(self.device))

    def _reader(
        self, frame: torch.Tensor, region: tuple[float, float, float, float], ref: np.ndarray
    ) -> Callable[[np.ndarray], torch.Tensor]:
        """pool5 of boxes inside ``region`` of ``frame``, flattened to fc6's ``(N, 9216)`` rows
        once (every later use is a view): the paper's crops, or reads from conv passes over
        ``region`` (pooled path), one per level of the candidates' scale pyramid around the
        reference box ``ref`` (``tracker.pooled_pyramid``), else one scaled for ``ref``."""
        size, tr, c = self.cfg.network.input_size, self.cfg.tracker, self.cfg.candidates
        if tr.candidate_features == "crop":
            return lambda boxes: torch.flatten(crop_pool5(self.net, frame, boxes, size), 1)
        pyramid = tr.pooled_pyramid and c.num_scales > 1
        levels = scale_factors(ref, c.num_scales, c.scale_step) if pyramid else np.ones(1)
        return PooledRegion(
            self.net, frame, region, (ref[2], ref[3]), levels, tr.pooled_target_size, size
        )

    def _samples(
        self,
        read: Callable[[np.ndarray], torch.Tensor],
        box: np.ndarray,
        n_pos: int,
        n_neg: int,
        image_size: tuple[int, int],
        bounds: tuple[float, float, float, float],
    ) -> torch.Tensor:
        """pool5 of ``n_pos`` positives then ``n_neg`` negatives sampled around ``box``."""
        s = self.cfg.sampling
        pos = sample_positives(self._rng, box, n_pos, s.positive_iou)
        near = sample_near_negatives(
            self._rng,
            box,
            round(n_neg * s.near_negative_fraction),
            s.near_negative_max_iou,
            s.near_negative_scale,
            bounds,
            s.near_negative_shift,
        )
        far = sample_far_negatives(
            self._rng,
            box,
            n_neg - len(near),
            s.negative_center_distance,
            s.negative_max_distance,
            image_size,
            bounds,
        )
        with torch.no_grad():
            return read(np.concatenate([pos, near, far]))

    def _region(self, box: np.ndarray, candidates: np.ndarray) -> tuple[float, ...]:
        s = self.cfg.sampling
        return working_region(box, candidates, s.positive_iou, s.negative_max_distance)

    # -- Tracker interface ----------------------------------------------------------------
    def init(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        """Section 3.2 phase 2 and the initial Gaussians, from the first frame's ``box``."""
        arr = np.asarray(box, dtype=np.float64).ravel()
        if arr.shape != (4,) or not np.isfinite(arr).all():
            raise ValueError(f"initial box must be 4 finite numbers (x, y, w, h), got {box!r}")
        if arr[2] < MIN_BOX_SIDE or arr[3] < MIN_BOX_SIDE:
            raise ValueError(
                f"initial box is too small ({arr[2]:g} x {arr[3]:g} px): width and height "
                f"must be at least {MIN_BOX_SIDE:g} pixels"
            )
        frame = self._frame(image)
        h, w = frame.shape[-2:]
        if arr[0] >= w or arr[1] >= h or arr[0] + arr[2] <= 0 or arr[1] + arr[3] <= 0:
            raise ValueError(f"initial box lies outside the {w}x{h} image")
        cfg = self.cfg
        self.net.load_state_dict(self._initial_state)
        self._rng = np.random.default_rng(cfg.seed)
        n_pos, region = cfg.sampling.first_frame_positives, self._region(arr, arr)
        p5 = self._samples(
            self._reader(frame, region, arr),
            arr,
            n_pos,
            cfg.sampling.first_frame_negatives,
            (w, h),
            region,
        )
        self.phase2_iterations = 0
        hidden = self._phase2(p5, n_pos)
        with torch.no_grad():
            x = self.net.fc_head(hidden)
        x_pos, x_neg = x[:n_pos], x[n_pos:]
        self.layer = fit_bayes_layer(x_pos, x_neg, cfg.gaussian.variance_floor)
        self._last_updated_feature = x_pos[0].clone()  # row 0 is the given box itself
        self._fc6_steps = Fc6Steps(self.net.fc6.weight, cfg.tracker.fc6_flush_rank)
        self._box = arr
        self._pending: _Pending | None = None
        self.online_updates = 0

    def _phase2(self, p5: torch.Tensor, n_pos: int) -> torch.Tensor:
        """Section 3.2 phase 2 on the first frame's samples (``n_pos`` positives first), when
        enabled; returns their fc6 outputs (before the ReLU) under the resulting weights."""
        p2 = self.cfg.phase2
        if not (p2.enabled and p2.max_iterations > 0):
            with torch.no_grad():
                return self.net.fc6_out(p5)
        return self._finetune(p5, n_pos)

    def _finetune(self, p5: torch.Tensor, n_pos: int) -> torch.Tensor:
        """Phase 2's fc-only SGD (:func:`~gdt_core.tracking.finetune.phase2_finetune`, in the span
        of the samples); the samples' fc6 outputs under the tuned weights."""
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
        if self.layer is None:
            raise RuntimeError("GDTTracker.update() called before init()")
        cfg, frame = self.cfg, self._frame(image)
        c = cfg.candidates
        cands = sample_candidates(
            self._rng, self._box, c.num_scales, c.scale_step, c.search_radius, c.positions_per_scale
        )
        pending, size = self._pending, (frame.shape[-1], frame.shape[-2])
        region = self._region(self._box, cands)
        read = self._reader(frame, region, self._box)
        with torch.no_grad():
            rows = read(cands)
        if pending is not None:
            rows = torch.cat([pending.pool5, rows])
        with torch.no_grad():
            # eval: fc == fc_head(fc6_out); the stage-2 steps not yet written into fc6 added
            hidden = self.net.fc6_out(rows)
            self._fc6_steps.add_output_shift(rows, hidden)
        if pending is not None:
            hidden = self._learn(pending, rows, hidden)[len(pending.pool5) :]
        with torch.no_grad():
            x = self.net.fc_head(hidden)
            scores = self.layer.score(x)
        box, best = select_box(cands, scores, self._box, c, size)
        score = float(scores[best])
        learn = self._gate(x[best], score)
        # Stage 1's samples at x*, learnt from when the next frame arrives (see above).
        s = cfg.sampling
        p5 = self._samples(read, box, s.num_positives, s.num_negatives, size, region)
        self._pending = _Pending(p5, learn)
        self._box = box
        return box.copy(), score

    def _gate(self, feature: torch.Tensor, score: float) -> bool:
        """Section 4's gate for stage 2: S(x*) >= ``online.score_threshold`` and x*'s features
        similar to the last updated frame's (``online.similarity_threshold``); a frame that
        passes becomes the last updated one."""
        o = self.cfg.online
        learn = (
            o.backprop
            and o.iterations_per_frame > 0
            and score >= o.score_threshold
            and cosine_similarity(feature, self._last_updated_feature) >= o.similarity_threshold
        )
        if learn:
            self._last_updated_feature = feature.clone()
            self.online_updates += 1
        return learn

    def _learn(self, pending: _Pending, rows: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Stage 1 (eqs. 6-7) on the pending samples -- the first rows of ``rows`` -- then, if
        their frame passed the gate, stage 2's fc-only iterations (eqs. 8-11). Returns the fc6
        outputs of all ``rows`` under the updated weights."""
        n, o, g = len(pending.pool5), self.cfg.online, self.cfg.gaussian
        n_pos = self.cfg.sampling.num_positives
        with torch.no_grad():
            xs = self.net.fc_head(hidden[:n])
        self.layer = update_bayes_layer(
            self.layer,
            xs[:n_pos],
            xs[n_pos:],
            g.gamma,
            g.eq7_form,
            g.variance_floor,
        )
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


def select_box(
    cands: np.ndarray,
    scores: torch.Tensor,
    previous: np.ndarray,
    c: CandidatesConfig,
    image_size: tuple[int, int],
) -> tuple[np.ndarray, int]:
    """The new box from the candidates' scores, and the best candidate's index: eq. 5's
    arg-max, or with ``c.top_k`` > 1 the mean of the k best (:func:`_mean_box`), its size
    change from ``previous`` damped by ``c.scale_damping`` (:func:`_damped`); kept
    reachable in the ``(width, height)`` image."""
    top = torch.topk(scores, min(c.top_k, len(scores))).indices.cpu().numpy()
    box = _damped(_mean_box(cands[top]), previous, c.scale_damping)
    return _keep_reachable(box, *image_size), int(top[0])


def _mean_box(boxes: np.ndarray) -> np.ndarray:
    """The mean centre and the geometric-mean size of ``boxes`` (one box: itself)."""
    centre = (boxes[:, :2] + boxes[:, 2:] / 2).mean(0)
    wh = np.exp(np.log(boxes[:, 2:]).mean(0))
    return np.concatenate([centre - wh / 2, wh])


def _damped(box: np.ndarray, previous: np.ndarray, damping: float) -> np.ndarray:
    """``box`` with its size moved from ``previous``'s only by the factor ``(size / previous
    size)^damping`` (the centre kept): the scale change damped."""
    if damping == 1.0:
        return box
    centre = box[:2] + box[2:] / 2
    wh = previous[2:] * (box[2:] / previous[2:]) ** damping
    return np.concatenate([centre - wh / 2, wh])


def _keep_reachable(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Keep the centre inside the image and the sides >= ``MIN_BOX_SIDE`` (aspect kept), so a
    target leaving the frame is searched for at the border instead of drifting away."""
    x, y, w, h = box
    cx = float(np.clip(x + w / 2, 0, width))
    cy = float(np.clip(y + h / 2, 0, height))
    if min(w, h) < MIN_BOX_SIDE:
        w, h = (
            (MIN_BOX_SIDE, h * MIN_BOX_SIDE / w) if w <= h else (w * MIN_BOX_SIDE / h, MIN_BOX_SIDE)
        )
    return np.array([cx - w / 2, cy - h / 2, w, h])
