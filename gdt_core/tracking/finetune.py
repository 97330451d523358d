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

from gdt_core.config import Config
from gdt_core.network.network import GDTNet
from gdt_core.tracking.fc6_steps import Fc6Steps
from gdt_core.tracking.gaussian import BayesLayer, fit_bayes_layer

HAS_FOREACH_ADD = hasattr(torch, "_foreach_add_")  # private API: see add_scaled_


def bayes_loss(x_pos: torch.Tensor, x_neg: torch.Tensor, layer: BayesLayer) -> torch.Tensor:
    """Eqs. 8-11 as a loss to minimise (see the module doc); the Gaussians are fixed."""
    fixed = layer.detach()
    return -(fixed.score(x_pos).mean() - fixed.score(x_neg).mean()) / x_pos.shape[1]


def bayes_loss_grad(x: torch.Tensor, n_pos: int, layer: BayesLayer) -> torch.Tensor:
    """The gradient of :func:`bayes_loss` with respect to ``x`` (rows ``:n_pos`` positive),
    written out: eqs. 8-10 give ``dS/dx = -(x - mu_pos)/var_pos + (x - mu_neg)/var_neg``,
    which is ``2 a x + b`` in the terms of :attr:`BayesLayer.quadratic`; eq. 11's batch sum
    weights each row by ``-1/(M_pos D)`` (positives) or ``1/(M_neg D)`` (negatives)."""
    a, b, _ = layer.detach().quadratic
    d, n_neg = x.shape[1], len(x) - n_pos
    grad = torch.addcmul(b, x, a, value=2.0)
    grad[:n_pos] *= -1.0 / (n_pos * d)
    grad[n_pos:] *= 1.0 / (n_neg * d)
    return grad


def fc6_out_grad(net: GDTNet, fc6_out: torch.Tensor, x_grad: torch.Tensor) -> torch.Tensor:
    """Back-propagate ``x_grad`` (at fc7's output) through fc7 and fc6's ReLU to fc6's
    pre-activation output ``fc6_out`` (eval mode: no dropout). Computed as ``(W^T g^T)^T``:
    the same values as ``g W``, a little faster for the few rows of a frame."""
    return (net.fc7.weight.T @ x_grad.T).T.masked_fill_(fc6_out <= 0, 0.0)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Similarity of two feature vectors (section 4's online-update gate; config ``cosine``)."""
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


@dataclass(frozen=True)
class Phase2Result:
    iterations: int  # SGD steps taken
    margin: float  # last held-out min S(pos) - max S(neg)
    fc6_out: torch.Tensor  # fc6's outputs (before the ReLU) on the samples, final weights


def draw_batch(
    rng: np.random.Generator, n_pos: int, n_neg: int, size: int
) -> tuple[np.ndarray, ...]:
    """Indices of one phase-2 batch of ``size``: positives and negatives in their overall
    proportion, at least two of each (a Gaussian needs a variance), without replacement."""
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
    """Section 3.2 phase 2: fc-only SGD with momentum on the first frame's samples.

    Each iteration draws a batch (positives and negatives in their overall proportion), runs
    fc6/fc7, re-estimates both Gaussians by maximum likelihood on the batch (eq. 3) and takes
    one step on :func:`bayes_loss` with them fixed (its gradient written out:
    :func:`bayes_loss_grad`, :func:`fc6_out_grad`). It stops after ``max_iterations`` or once
    the previous batch's Gaussians separate the new batch, which they were not fitted to:
    min S(pos) - max S(neg) >= ``stop_margin``.

    The inputs of fc6 are the same M samples S (``M x 9216``) in every iteration, so fc6's
    weight gradient ``g^T S_batch`` -- and with it every SGD and momentum step -- lies in the
    row space of S: fc6's weight stays ``W0 + A S``, and its bias ``b0 + A 1`` (the bias is a
    weight on a constant input 1, so its steps are A's column sums). We keep the
    ``4096 x M`` matrix A (as its transpose), with ``S W0^T + b0`` and ``S S^T + 1`` computed
    once, so an iteration's fc6 outputs ``(S_b W0^T + b0) + (S_b S^T + 1) A^T`` cost ~0.1
    GFLOP instead of a pass over fc6's 151 MB weight; W and b are written once at the end,
    W from A's non-zero rows only (those some batch reached: a phase 2 that stops after one
    step writes a quarter of the samples' rank), and the samples' fc6 outputs under them come
    back in the result (no pass over W for the initial Gaussians). The steps equal
    ``torch.optim.SGD`` with momentum on ``net.fc_parameters()`` (tests/test_gaussian.py,
    float64); fc7's momentum buffer takes ``m v + g`` in the gradient's own ``addmm_`` (one
    pass over it, not two). ``net`` in eval mode.
    """
    if net.training:
        raise ValueError("phase2_finetune expects the network in eval mode (dropout off)")
    p2, floor = cfg.phase2, cfg.gaussian.variance_floor
    samples = torch.cat([pool5_pos, pool5_neg]).flatten(1)
    bias6, weight7, bias7 = net.fc6.bias, net.fc7.weight, net.fc7.bias
    with torch.no_grad():
        base = net.fc6_out(samples)  # S W0^T + b0
        gram = (samples @ samples.T).add_(1.0)  # S S^T + 1: the bias is A's column sums
    coef = torch.zeros_like(base)  # A^T, M x 4096 (rows of S indexed along dim 0)
    params = [coef, weight7, bias7]
    velocity = [torch.zeros_like(p) for p in params]  # momentum buffers (W's as B S)
    layer, margin, n_pos = None, float("nan"), len(pool5_pos)
    iterations = p2.max_iterations
    with torch.no_grad():
        for it in range(p2.max_iterations):
            ip, ineg = draw_batch(rng, n_pos, len(pool5_neg), p2.batch_size)
            rows = torch.as_tensor(np.concatenate([ip, n_pos + ineg]), device=base.device)
            hidden = torch.addmm(base[rows], gram[rows], coef)
            act = torch.relu(hidden)
            x = net.fc7_out(act)
            x_pos, x_neg = x[: len(ip)], x[len(ip) :]
            if layer is not None:
                margin = float(layer.score(x_pos).min() - layer.score(x_neg).max())
                if margin >= p2.stop_margin:
                    iterations = it
                    break
            layer = fit_bayes_layer(x_pos, x_neg, floor)
            g_x = bayes_loss_grad(x, len(ip), layer)
            g_hidden = fc6_out_grad(net, hidden, g_x)
            # torch.optim.SGD's momentum rule: v = m v + grad, p -= lr v
            m = p2.momentum
            velocity[0].mul_(m).index_add_(0, rows, g_hidden)  # W's gradient g^T S_rows, in A^T
            velocity[1].addmm_(g_x.T, act, beta=m)  # fc7's weight gradient, in one pass
            velocity[2].mul_(m).add_(g_x.sum(0))
            add_scaled_(params, velocity, -p2.learning_rate)
        fc6_out = torch.addmm(base, gram, coef)
        bias6.add_(coef.sum(0))
        kept = coef.any(dim=1)  # rows no batch reached are zero and add nothing
        net.fc6.weight.addmm_(coef[kept].T, samples[kept])
    return Phase2Result(iterations, margin, fc6_out)


def add_scaled_(targets: list[torch.Tensor], deltas: list[torch.Tensor], alpha: float) -> None:
    """``t += alpha * d`` for each pair, in place: one fused ``torch._foreach_add_`` (a
    private torch API) where this torch has it and it works, else one ``add_`` per tensor
    (same values)."""
    if HAS_FOREACH_ADD:
        try:
            torch._foreach_add_(targets, deltas, alpha=alpha)
            return
        except (RuntimeError, TypeError):  # its arguments checked before it writes anything
            pass
    for target, delta in zip(targets, deltas, strict=True):
        target.add_(delta, alpha=alpha)


def online_step(
    net: GDTNet,
    learning_rate: float,
    pool5: torch.Tensor,
    fc6_out: torch.Tensor,
    x: torch.Tensor,
    n_pos: int,
    layer: BayesLayer,
    fc6_steps: Fc6Steps | None = None,
) -> torch.Tensor:
    """Section 3.3 stage 2: one fc-only SGD iteration with the just-updated Gaussians fixed.

    ``pool5`` holds the frame's samples (the first ``n_pos`` positive), ``fc6_out`` their fc6
    outputs before the ReLU and ``x`` their features (fc7), both from the forward pass already
    done with the current weights. The result equals ``torch.optim.SGD(net.fc_parameters(),
    lr=learning_rate)`` stepping on :func:`bayes_loss` (plain SGD, no momentum; ``net`` in
    eval mode, no dropout), with the gradient written out (:func:`bayes_loss_grad`,
    :func:`fc6_out_grad`): fc7's weight steps in place (``addmm_``), and fc6's weight
    gradient ``g^T pool5`` (rank <= the sample count) goes to ``fc6_steps``
    (:class:`~gdt_core.tracking.fc6_steps.Fc6Steps`; None = written into the weight at once): no
    recomputed forward, no autograd graph, and no 9216 x 4096 gradient tensor to allocate,
    zero and step. Returns ``g``, the loss gradient with respect to fc6's outputs, for
    :func:`fc6_output_shift`.
    """
    if net.training:
        raise ValueError("online_step expects the network in eval mode (dropout off)")
    with torch.no_grad():
        g_x = bayes_loss_grad(x, n_pos, layer)
        g_hidden = fc6_out_grad(net, fc6_out, g_x)  # with fc7's weight before its step
        net.fc7.weight.addmm_(g_x.T, torch.relu(fc6_out), alpha=-learning_rate)
        (fc6_steps or Fc6Steps(net.fc6.weight, 0)).add(g_hidden, pool5, learning_rate)
        add_scaled_([net.fc6.bias, net.fc7.bias], [g_hidden.sum(0), g_x.sum(0)], -learning_rate)
    return g_hidden


def fc6_output_shift(
    rows: torch.Tensor, step_pool5: torch.Tensor, grad: torch.Tensor, learning_rate: float
) -> torch.Tensor:
    """How fc6's outputs on ``rows`` (pool5, ``(N, ...)``) change under :func:`online_step`'s
    update ``W -= lr g^T P``, ``b -= lr sum(g)`` with ``P`` = ``step_pool5`` and ``g`` =
    ``grad``: ``-lr ((rows P^T) g + sum(g))``, exact, for ~1/100 of a new fc6 pass."""
    overlap = rows.flatten(1) @ step_pool5.flatten(1).T
    return torch.addmm(grad.sum(0), overlap, grad, beta=-learning_rate, alpha=-learning_rate)
