"""fc6's online weight steps (section 3.3 stage 2) kept low-rank until they are worth writing.

One stage-2 step changes fc6's weight by ``-lr g^T P`` (``g``: the loss gradient at fc6's
outputs, ``P``: the frame's pool5 samples): rank <= the sample count, 16 by default. Writing it
into the 4096 x 9216 weight reads and writes all 151 MB, whatever the rank, so one write of
a high rank costs far less than several of low rank (``python -m bench.bench_fc6``;
docs/results.md). We keep the
pending steps as ``U V`` (``U``: 4096 x r, ``V``: r x 9216), add their effect ``rows V^T U^T``
to fc6's outputs and write ``W += U V`` once ``r`` reaches ``flush_rank``: the same weights and
outputs as stepping at once, up to float rounding.
"""

from __future__ import annotations

import torch


class Fc6Steps:
    """Pending stage-2 steps of one fc6 weight ``W``: its value is ``W + U V``."""

    def __init__(self, weight: torch.Tensor, flush_rank: int) -> None:
        self.weight, self.flush_rank = weight, flush_rank
        self._left: torch.Tensor | None = None  # U = -lr g^T, 4096 x r
        self._right: torch.Tensor | None = None  # V = P, r x 9216

    @property
    def rank(self) -> int:
        """Columns of ``U`` not yet written into the weight."""
        return 0 if self._left is None else self._left.shape[1]

    def add(self, grad: torch.Tensor, pool5: torch.Tensor, learning_rate: float) -> None:
        """The step ``W -= lr g^T P``; written into ``W`` once the pending rank reaches
        ``flush_rank`` (at once when ``flush_rank`` <= the step's rank)."""
        left, right = grad.T * -learning_rate, pool5.flatten(1)
        if self._left is not None and self._right is not None:
            left, right = torch.cat([self._left, left], dim=1), torch.cat([self._right, right])
        self._left, self._right = left, right
        if self.rank >= self.flush_rank:
            self.flush()

    def add_output_shift(self, rows: torch.Tensor, out: torch.Tensor) -> None:
        """Add to ``out``, fc6's outputs on ``rows`` (pool5, ``(N, ...)``) under ``W``, what
        the pending steps add to them: ``rows (U V)^T``; nothing when none is pending."""
        if self._left is not None and self._right is not None:
            out.addmm_(rows.flatten(1) @ self._right.T, self._left.T)

    def flush(self) -> None:
        """Write the pending steps into the weight: ``W += U V``."""
        if self._left is not None and self._right is not None:
            with torch.no_grad():
                self.weight.addmm_(self._left, self._right)
            self._left = self._right = None
