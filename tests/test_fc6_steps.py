"""Deferred low-rank fc6 steps (gdt_core.tracking.fc6_steps): the weights and outputs of stepping
at once."""

from __future__ import annotations

import torch

from gdt_core.tracking.fc6_steps import Fc6Steps


def _steps(seed: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(4, 12, generator=gen, dtype=torch.float64),  # g: 4 samples x fc6 width
            torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64),  # P: 4 pool5 samples
        )
        for _ in range(count)
    ]


def test_pending_steps_give_the_outputs_and_weights_of_steps_taken_at_once():
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(12, 18, generator=gen, dtype=torch.float64)
    rows = torch.randn(5, 2, 3, 3, generator=gen, dtype=torch.float64)
    now, later = start.clone(), start.clone()
    at_once, deferred = Fc6Steps(now, 0), Fc6Steps(later, 10)
    ranks = []
    for grad, pool5 in _steps(1, 5):
        at_once.add(grad, pool5, 0.1)
        deferred.add(grad, pool5, 0.1)
        ranks.append(deferred.rank)
        assert at_once.rank == 0  # flush_rank 0: every step written at once
        out = rows.flatten(1) @ later.T
        deferred.add_output_shift(rows, out)
        torch.testing.assert_close(out, rows.flatten(1) @ now.T)
    assert ranks == [4, 8, 0, 4, 8]  # written when the pending rank reached 10 (at 12)
    assert not torch.equal(later, start)  # the third step wrote the first three
    deferred.flush()
    assert deferred.rank == 0
    out = rows.flatten(1) @ later.T
    deferred.add_output_shift(rows, out)  # nothing pending: unchanged
    assert torch.equal(out, rows.flatten(1) @ later.T)
    torch.testing.assert_close(later, now)
    torch.testing.assert_close(now, start - 0.1 * sum(g.T @ p.flatten(1) for g, p in _steps(1, 5)))
