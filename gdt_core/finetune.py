"""Back-propagating the Bayesian layer into the fc layers (eqs. 8-11, sections 3.2 and 3.3).

With the Gaussians held fixed (detached), the gradient of S with respect to a positive feature
is eq. 8 and for a negative eq. 9, eq. 10 giving ``d log G / dx_i = -(x_i - mu_i) / sigma_i^2``;
eq. 11 sums them over the batch. Our loss is ``-(mean_pos S(x) - mean_neg S(x)) / D``: the
same gradient directions, each class weighted equally and the step expressed per attribute,
so one learning rate serves batches of any size and feature widths of 500 or 4096 (the raw
sum reaches ~1e6 and diverges at any useful rate). Only fc6/fc7 move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import Config
from .gaussian import BayesLayer, fit_bayes_layer
from .network import GDTNet


def bayes_loss(x_pos: torch.Tensor, x_neg: torch.Tensor, layer: BayesLayer) -> torch.Tensor:
    """Eqs. 8-11 as a loss to minimise (see the module doc); the Gaussians are fixed."""
    fixed = layer.detach()
    return -(fixed.score(x_pos).mean() - fixed.score(x_neg).mean()) / x_pos.shape[1]


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Similarity of two feature vectors (section 4's online-update gate; config ``cosine``)."""
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


@dataclass(frozen=True)
class Phase2Result:
    iterations: int  # SGD steps taken
    margin: float  # last held-out min S(pos) - max S(neg)


def _batch(rng: np.random.Generator, n_pos: int, n_neg: int, size: int) -> tuple[np.ndarray, ...]:
    k_pos = min(n_pos, max(2, round(size * n_pos / (n_pos + n_neg))))
    k_neg = min(n_neg, max(2, size - k_pos))
    return rng.choice(n_pos, k_pos, replace=False), rng.choice(n_neg, k_neg, replace=False)


def phase2_finetune(
    net: GDTNet,
    pool5_pos: torch.Tensor,
    pool5_neg: torch.Tensor,
    cfg: Config,
    rng: np.random.Generator,
) -> Phase2Result:
    """Section 3.2 phase 2: fc-only SGD on the first frame's samples (conv outputs cached).

    Each iteration draws a batch (positives and negatives in their overall proportion), runs
    fc6/fc7, re-estimates both Gaussians by maximum likelihood on the batch (eq. 3) and takes
    one step on :func:`bayes_loss` with them fixed. It stops after ``max_iterations`` or once
    the previous batch's Gaussians separate the new batch, which they were not fitted to:
    min S(pos) - max S(neg) >= ``stop_margin``.
    """
    p2, floor = cfg.phase2, cfg.gaussian.variance_floor
    opt = torch.optim.SGD(net.fc_parameters(), lr=p2.learning_rate, momentum=p2.momentum)
    layer, margin = None, float("nan")
    for it in range(p2.max_iterations):
        ip, ineg = _batch(rng, len(pool5_pos), len(pool5_neg), p2.batch_size)
        x = net.fc(torch.cat([pool5_pos[ip], pool5_neg[ineg]]))
        x_pos, x_neg = x[: len(ip)], x[len(ip) :]
        if layer is not None:
            with torch.no_grad():
                margin = float(layer.score(x_pos).min() - layer.score(x_neg).max())
            if margin >= p2.stop_margin:
                return Phase2Result(it, margin)
        layer = fit_bayes_layer(x_pos.detach(), x_neg.detach(), floor)
        opt.zero_grad(set_to_none=True)
        bayes_loss(x_pos, x_neg, layer).backward()
        opt.step()
    return Phase2Result(p2.max_iterations, margin)


def online_step(
    net: GDTNet,
    learning_rate: float,
    pool5: torch.Tensor,
    fc6_out: torch.Tensor,
    n_pos: int,
    layer: BayesLayer,
) -> float:
    """Section 3.3 stage 2: one fc-only SGD iteration with the just-updated Gaussians fixed.

    ``pool5`` holds the frame's samples (the first ``n_pos`` positive) and ``fc6_out`` their
    fc6 outputs before the ReLU, from the forward pass already done with the current weights.
    The result equals ``torch.optim.SGD(net.fc_parameters(), lr=learning_rate)`` stepping on
    :func:`bayes_loss` (plain SGD, no momentum; ``net`` in eval mode, no dropout), but autograd
    runs from fc6's output only and fc6's weight gradient ``g^T pool5`` (rank <= the sample
    count) is applied in place by one ``addmm_``: no recomputed fc6 forward, and no
    9216 x 4096 gradient tensor to allocate, zero and step (measured: on this memory-bound
    CPU every pass over fc6's 151 MB costs as much as the GEMMs).
    """
    if net.training:
        raise ValueError("online_step expects the network in eval mode (dropout off)")
    fc7 = list(net.fc7.parameters())
    hidden = fc6_out.detach().requires_grad_(True)
    x = net.fc_head(hidden)
    loss = bayes_loss(x[:n_pos], x[n_pos:], layer)
    g_hidden, *g_fc7 = torch.autograd.grad(loss, [hidden, *fc7])
    with torch.no_grad():
        net.fc6.weight.addmm_(g_hidden.T, pool5.flatten(1), alpha=-learning_rate)
        net.fc6.bias.sub_(learning_rate * g_hidden.sum(0))
        for param, grad in zip(fc7, g_fc7, strict=True):
            param.sub_(learning_rate * grad)
    return float(loss.detach())
