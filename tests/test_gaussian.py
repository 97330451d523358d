"""The Bayesian scoring layer: eqs. 3-4 by hand, no underflow, ML fit, eqs. 6-7, eqs. 8-11."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gdt_core.network.network import GDTNet
from gdt_core.tracking.finetune import (
    bayes_loss,
    bayes_loss_grad,
    fc6_output_shift,
    online_step,
)
from gdt_core.tracking.gaussian import (
    BayesLayer,
    DiagonalGaussian,
    fit_bayes_layer,
    fit_gaussian,
    log_density,
    update_gaussian,
)


def _g(mean, var) -> DiagonalGaussian:
    return DiagonalGaussian(
        torch.tensor(mean, dtype=torch.float64), torch.tensor(var, dtype=torch.float64)
    )


POS = _g([0.0, 1.0], [1.0, 4.0])
NEG = _g([1.0, 0.0], [0.25, 1.0])


def test_eq3_log_density_by_hand():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    # attribute 1: N(1; 0, 1); attribute 2: N(2; 1, 4)
    by_hand = -0.5 * (math.log(2 * math.pi) + 1.0) - 0.5 * (math.log(8 * math.pi) + 0.25)
    assert float(log_density(x, POS)[0]) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(-3.1560, abs=1e-4)


def test_eq4_score_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
    log_pos = -0.5 * (math.log(2 * math.pi) + 1.0) - 0.5 * (math.log(8 * math.pi) + 0.25)
    log_neg = -0.5 * math.log(0.5 * math.pi) - 0.5 * (math.log(2 * math.pi) + 4.0)
    s = BayesLayer(POS, NEG).score(x)
    assert float(s[0]) == pytest.approx(log_pos - log_neg, abs=1e-12)
    assert float(s[0]) == pytest.approx(-0.0113, abs=1e-4)  # slightly more negative-like
    assert float(s[1]) > 0  # the positive mean itself scores positive


def test_eq4_quadratic_form_equals_the_difference_of_eq3_log_densities():
    gen = torch.Generator().manual_seed(3)
    pos, neg = (
        DiagonalGaussian(torch.randn(50, generator=gen, dtype=torch.float64) * 3, v)
        for v in (torch.rand(50, generator=gen, dtype=torch.float64) + 0.01 for _ in range(2))
    )
    x = torch.randn(20, 50, generator=gen, dtype=torch.float64) * 4
    direct = log_density(x, pos) - log_density(x, neg)
    torch.testing.assert_close(BayesLayer(pos, neg).score(x), direct, rtol=1e-12, atol=1e-9)


def test_500_dims_far_from_both_means_do_not_underflow():
    d = 500
    pos = DiagonalGaussian(torch.zeros(d), torch.full((d,), 0.01))
    neg = DiagonalGaussian(torch.full((d,), 5.0), torch.ones(d))
    x = torch.full((1, d), 2.0)  # 20 sigma from the positive mean in every attribute
    naive = torch.exp(-0.5 * (x - pos.mean) ** 2 / pos.var).prod()
    assert float(naive) == 0.0  # the product of eq. 3 underflows ...
    s = BayesLayer(pos, neg).score(x)
    expected = -0.5 * d * (math.log(2 * math.pi * 0.01) + 400) + 0.5 * d * (
        math.log(2 * math.pi) + 9
    )
    assert torch.isfinite(s).all()  # ... its log does not
    assert float(s[0]) == pytest.approx(expected, rel=1e-5)


def test_ml_fit_is_mean_and_biased_variance_with_floor():
    x = torch.tensor([[0.0, 3.0], [2.0, 3.0], [4.0, 3.0]], dtype=torch.float64)
    g = fit_gaussian(x, variance_floor=0.5)
    assert g.mean.tolist() == [2.0, 3.0]
    assert g.var.tolist() == pytest.approx([8 / 3, 0.5])  # constant attribute -> the floor


@pytest.mark.parametrize("gamma", [0.5, 0.8, 0.95])
def test_eq67_moment_matching_equals_ml_on_concatenated_data(gamma):
    gen = torch.Generator().manual_seed(0)
    n_old = 200
    n_new = round(n_old * (1 - gamma) / gamma)
    a = torch.randn(n_old, 7, generator=gen, dtype=torch.float64) * 2 + 1
    b = torch.randn(n_new, 7, generator=gen, dtype=torch.float64) * 0.5 - 3
    g = n_old / (n_old + n_new)  # the mixture weight the rule implies
    merged = update_gaussian(fit_gaussian(a, 1e-9), fit_gaussian(b, 1e-9), g, "moment_matching")
    direct = fit_gaussian(torch.cat([a, b]), 1e-9)
    torch.testing.assert_close(merged.mean, direct.mean)
    torch.testing.assert_close(merged.var, direct.var)


def test_eq67_both_forms_by_hand():
    old, new = _g([0.0], [4.0]), _g([2.0], [1.0])
    mm = update_gaussian(old, new, 0.75, "moment_matching")
    printed = update_gaussian(old, new, 0.75, "printed")
    assert mm.mean.tolist() == printed.mean.tolist() == [0.5]  # eq. 6
    # eq. 7: 0.75*4 + 0.25*1 + 0.1875 * (cross term)
    assert mm.var.tolist() == pytest.approx([3.25 + 0.1875 * (0.0 - 2.0) ** 2])  # (mu - mu*)^2
    assert printed.var.tolist() == pytest.approx(
        [3.25 + 0.1875 * (2.0 - 1.0) ** 2]
    )  # (sigma - sigma*)^2
    floored = update_gaussian(_g([0.0], [1e-6]), _g([0.0], [1e-6]), 0.9, "printed", 1e-3)
    assert floored.var.tolist() == pytest.approx([1e-3])
    with pytest.raises(ValueError, match="eq7_form"):
        update_gaussian(old, new, 0.5, "other")


def _eq10_dS_dx(x: torch.Tensor, layer: BayesLayer) -> torch.Tensor:
    """Eq. 8 with eq. 10 written out: dS/dx_i = -(x_i - mu_pos)/s2_pos + (x_i - mu_neg)/s2_neg."""
    return -(x - layer.pos.mean) / layer.pos.var + (x - layer.neg.mean) / layer.neg.var


def test_eq10_gradient_of_S_matches_autograd():
    gen = torch.Generator().manual_seed(1)
    layer = BayesLayer(POS, NEG)
    x = torch.randn(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(layer.score(x).sum(), x)
    torch.testing.assert_close(grad, _eq10_dS_dx(x.detach(), layer))


def test_loss_gradient_is_eqs_8_to_11_with_gaussians_fixed():
    gen = torch.Generator().manual_seed(2)
    mean = POS.mean.clone().requires_grad_(True)
    layer = BayesLayer(DiagonalGaussian(mean, POS.var), NEG)
    x_pos = torch.randn(4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    x_neg = torch.randn(6, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    bayes_loss(x_pos, x_neg, layer).backward()
    d = 2
    # descending the loss ascends S on positives (eq. 8) and descends it on negatives (eq. 9);
    # eq. 11's batch sum, weighted 1/(M_class * D) per class (see gdt_core.tracking.finetune)
    want_pos = -_eq10_dS_dx(x_pos.detach(), layer.detach()) / (4 * d)
    want_neg = _eq10_dS_dx(x_neg.detach(), layer.detach()) / (6 * d)
    torch.testing.assert_close(x_pos.grad, want_pos)
    torch.testing.assert_close(x_neg.grad, want_neg)
    assert mean.grad is None  # the Gaussians are held fixed during backward
    # ... and the closed form the tracker uses is that gradient, row by row
    written = bayes_loss_grad(torch.cat([x_pos, x_neg]).detach(), 4, layer)
    torch.testing.assert_close(written, torch.cat([x_pos.grad, x_neg.grad]))


def _small_net() -> GDTNet:
    with torch.random.fork_rng(devices=[]):  # the same weights in every run (no flaky steps)
        torch.manual_seed(0)
        net = GDTNet(fc6_dim=32, fc7_dim=6).double().eval()
    net.features.requires_grad_(False)
    return net


def test_online_step_equals_plain_sgd_on_the_fc_layers():
    # The fused stage-2 step (fc6's gradient applied in place from the cached forward) must
    # move fc6/fc7 exactly as torch's SGD on bayes_loss does, and leave the convolutions.
    net = _small_net()
    twin = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(3)
    pool5 = torch.rand(7, 256, 6, 6, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        x = net.fc(pool5)
    layer = fit_bayes_layer(x[:3], x[3:], 1e-4)
    with torch.no_grad():
        hidden = net.fc6(pool5.flatten(1))
    before = net.fc6.weight.detach().clone()
    grad = online_step(net, 0.05, pool5, hidden, x, 3, layer)

    opt = torch.optim.SGD(twin.fc_parameters(), lr=0.05)
    ref_hidden = twin.fc6(pool5.flatten(1))
    ref_hidden.retain_grad()
    y = twin.fc_head(ref_hidden)
    bayes_loss(y[:3], y[3:], layer).backward()
    opt.step()
    torch.testing.assert_close(grad, ref_hidden.grad)  # returned: d loss / d fc6 output
    pairs = zip(net.named_parameters(), twin.named_parameters(), strict=True)
    for (name, got), (_, ref) in pairs:
        torch.testing.assert_close(got, ref, msg=name)
    assert not torch.equal(net.fc6.weight, before)  # a real step, not a no-op on both
    assert torch.equal(net.features[0].weight, twin.features[0].weight)


def test_fc6_output_shift_is_the_step_applied_to_other_rows():
    # The tracker scores this frame's candidates with fc6 outputs computed before the
    # previous frame's step, shifted by its low-rank effect: must equal recomputing fc6.
    net = _small_net()
    gen = torch.Generator().manual_seed(4)
    samples = torch.rand(7, 256, 6, 6, generator=gen, dtype=torch.float64)
    rows = torch.rand(5, 256, 6, 6, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        x = net.fc(samples)
        before = net.fc6(rows.flatten(1))
        hidden = net.fc6(samples.flatten(1))
    layer = fit_bayes_layer(x[:3], x[3:], 1e-4)
    grad = online_step(net, 0.05, samples, hidden, x, 3, layer)
    with torch.no_grad():
        after = net.fc6(rows.flatten(1))
    shifted = before + fc6_output_shift(rows, samples, grad, 0.05)
    assert (after - before).abs().max() > 1e-6  # the step moved these rows' outputs
    torch.testing.assert_close(shifted, after)
