"""GDTNet.fc6_out: fc6's values by whichever GEMM runs (oneDNN without autograd on the CPU)."""

from __future__ import annotations

import warnings

import pytest
import torch

from gdt_core.network import network
from gdt_core.network.network import GDTNet


def _net(dtype: torch.dtype = torch.float32) -> GDTNet:
    torch.manual_seed(3)
    return GDTNet(fc6_dim=256, fc7_dim=32).to(dtype).eval()


@pytest.mark.parametrize("rows", [1, 15, 64, 80])
def test_fc6_out_equals_the_layer_for_any_row_count(rows):
    net = _net()
    x = torch.rand(rows, 9216)
    with torch.no_grad():
        torch.testing.assert_close(net.fc6_out(x), net.fc6(x), rtol=1e-5, atol=1e-5)


def test_fc6_out_reads_the_weight_as_it_is_now(monkeypatch):
    # the online steps write fc6's weight in place: no stale copy may be used (oneDNN path)
    if not network.HAS_ONEDNN_LINEAR:
        pytest.skip("this torch build has no oneDNN linear: fc6_out uses MKL's GEMM")
    calls = []
    onednn = network.linear_onednn
    monkeypatch.setattr(network, "linear_onednn", lambda *a: calls.append(1) or onednn(*a))
    net = _net()
    x = torch.rand(16, 9216)
    with torch.no_grad():
        before = net.fc6_out(x)
        net.fc6.weight.add_(torch.rand_like(net.fc6.weight) * 1e-3)
        net.fc6.bias.add_(1.0)
        after = net.fc6_out(x)
        assert (after - before).abs().min() > 0.5  # the bias alone moved every output by 1
        torch.testing.assert_close(after, net.fc6(x), rtol=1e-5, atol=1e-5)
    assert len(calls) == 2


def test_fc6_out_back_propagates_like_the_layer():
    net, x = _net(), torch.rand(8, 9216)
    net.fc6_out(x).square().sum().backward()
    ours = net.fc6.weight.grad.clone()
    net.zero_grad()
    net.fc6(x).square().sum().backward()
    torch.testing.assert_close(ours, net.fc6.weight.grad, rtol=1e-4, atol=1e-4)


def test_fc6_out_in_float64():
    net = _net(torch.float64)
    x = torch.rand(5, 9216, dtype=torch.float64)
    with torch.no_grad():
        out = net.fc6_out(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, net.fc6(x))


def test_without_the_private_torch_apis_the_results_are_the_same(monkeypatch):
    from gdt_core.tracking import finetune

    net, x = _net(), torch.rand(16, 9216)
    with torch.no_grad():
        fast = net.fc6_out(x)
        monkeypatch.setattr(network, "HAS_ONEDNN_LINEAR", False)  # no mkldnn._linear_pointwise
        torch.testing.assert_close(net.fc6_out(x), fast, rtol=1e-5, atol=1e-5)
    results = {}
    for fused in (True, False):
        monkeypatch.setattr(finetune, "HAS_FOREACH_ADD", fused)  # no torch._foreach_add_
        targets = [torch.ones(3), torch.zeros(2)]
        finetune.add_scaled_(targets, [torch.arange(3.0), torch.ones(2)], -0.5)
        results[fused] = targets
    for a, b in zip(results[True], results[False], strict=True):
        assert torch.equal(a, b)
    assert results[False][0].tolist() == [1.0, 0.5, 0.0]


def test_a_private_op_that_fails_falls_back_to_the_public_path(monkeypatch):
    """A torch release that changes oneDNN's private linear: fc6_out says so once and goes on
    through torch's public matmul, with the same values."""
    if not network.HAS_ONEDNN_LINEAR:
        pytest.skip("this torch build has no oneDNN linear: the public path is the only one")

    def changed(*args):
        raise TypeError("_linear_pointwise() takes 5 positional arguments but 6 were given")

    monkeypatch.setattr(network, "linear_onednn", changed)
    monkeypatch.setattr(network, "ONEDNN_FAILURES", [])
    net, x = _net(), torch.rand(16, 9216)
    with torch.no_grad(), pytest.warns(RuntimeWarning, match="takes 5 positional arguments"):
        out = net.fc6_out(x)
    torch.testing.assert_close(out, net.fc6(x), rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once: the next call goes straight to the fallback
        with torch.no_grad():
            torch.testing.assert_close(net.fc6_out(x), out)
    assert len(network.ONEDNN_FAILURES) == 1
