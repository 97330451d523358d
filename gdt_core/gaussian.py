"""The naive-Bayes scoring layer of section 3.1 (eqs. 1-5) and its online update (eqs. 6-7).

Each class (positive, negative) is a diagonal Gaussian over the fc7 features (eq. 3, with
``var`` the variance sigma^2 of each attribute). Everything is computed in log space, so 500
(or 4096) dimensions never underflow; variances are floored at ``variance_floor`` so eq. 3
stays finite when an attribute is constant over the samples (e.g. a dead ReLU upstream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EQ7_FORMS = ("moment_matching", "printed")


@dataclass(frozen=True)
class DiagonalGaussian:
    """Per-attribute mean and variance (the mu_i and sigma_i^2 of eq. 3)."""

    mean: torch.Tensor  # (D,)
    var: torch.Tensor  # (D,)

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean.detach(), self.var.detach())


def fit_gaussian(x: torch.Tensor, variance_floor: float) -> DiagonalGaussian:
    """Maximum-likelihood estimate from samples ``(M, D)``: mean and biased variance, floored."""
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"need a (M, D) batch of at least one sample, got {tuple(x.shape)}")
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    return DiagonalGaussian(mean, var.clamp_min(variance_floor))


def log_density(x: torch.Tensor, g: DiagonalGaussian) -> torch.Tensor:
    """log G(x) of eq. 3 for each row of ``x`` ``(M, D)``: a sum of per-attribute log terms."""
    return -0.5 * (torch.log(2 * math.pi * g.var) + (x - g.mean) ** 2 / g.var).sum(dim=-1)


@dataclass(frozen=True)
class BayesLayer:
    """The classifier S(x) = log G_pos(x) - log G_neg(x) (eqs. 1, 2, 4; equal priors)."""

    pos: DiagonalGaussian
    neg: DiagonalGaussian

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 4 for each row of ``x``."""
        return log_density(x, self.pos) - log_density(x, self.neg)

    def detach(self) -> BayesLayer:
        return BayesLayer(self.pos.detach(), self.neg.detach())


def fit_bayes_layer(x_pos: torch.Tensor, x_neg: torch.Tensor, variance_floor: float) -> BayesLayer:
    """Both Gaussians by maximum likelihood (the "deterministic procedure" of section 3.3)."""
    return BayesLayer(fit_gaussian(x_pos, variance_floor), fit_gaussian(x_neg, variance_floor))


def update_gaussian(
    old: DiagonalGaussian,
    new: DiagonalGaussian,
    gamma: float,
    eq7_form: str = "moment_matching",
    variance_floor: float = 0.0,
) -> DiagonalGaussian:
    """Eqs. 6-7: blend the running Gaussian ``old`` with this frame's estimate ``new``.

    ``eq7_form="printed"`` uses the cross term gamma(1-gamma)(sigma - sigma*)^2 exactly as eq. 7
    is printed; ``"moment_matching"`` uses gamma(1-gamma)(mu - mu*)^2, the variance of the
    gamma : (1 - gamma) mixture of the two Gaussians, as in the MIL tracker [18] the paper cites.
    """
    if eq7_form not in EQ7_FORMS:
        raise ValueError(f"eq7_form must be one of {list(EQ7_FORMS)}, got {eq7_form!r}")
    mean = gamma * old.mean + (1 - gamma) * new.mean  # eq. 6
    if eq7_form == "printed":
        cross = (old.var.sqrt() - new.var.sqrt()) ** 2
    else:
        cross = (old.mean - new.mean) ** 2
    var = gamma * old.var + (1 - gamma) * new.var + gamma * (1 - gamma) * cross  # eq. 7
    return DiagonalGaussian(mean, var.clamp_min(variance_floor))


def update_bayes_layer(
    layer: BayesLayer,
    x_pos: torch.Tensor,
    x_neg: torch.Tensor,
    gamma: float,
    eq7_form: str,
    variance_floor: float,
) -> BayesLayer:
    """Stage 1 of section 3.3: ML estimates on this frame's samples blended in by eqs. 6-7."""
    fresh = fit_bayes_layer(x_pos, x_neg, variance_floor)
    return BayesLayer(
        update_gaussian(layer.pos, fresh.pos, gamma, eq7_form, variance_floor),
        update_gaussian(layer.neg, fresh.neg, gamma, eq7_form, variance_floor),
    )
