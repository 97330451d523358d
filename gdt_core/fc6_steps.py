"""fc6's online weight steps (section 3.3 stage 2) kept low-rank until they are worth writing.

One stage-2 step changes fc6's weight by ``-lr g^T P`` (``g``: the loss gradient at fc6's
outputs, ``P``: the frame's pool5 samples): rank <= the sample count, 16 by default. Writing it
into the 4096 x 9216 weight reads and writes all 151 MB, whatever the rank: on the 2-core AVX2
CPU one write of rank 64 cost 0.56-0.63 of four writes of rank 16 (``python -m bench.bench_fc6``:
rank 16 19.6-22.6 ms, rank 64 31.9-50.8 ms, as this VM's speed drifted). We keep the
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
        self._left: list[torch.Tensor] = []  # blocks of U: -lr g^T (4096 x k)
        self._right: list[torch.Tensor] = []  # blocks of V: P (k x 9216)

    @property
    def rank(self) -> int:
        """Columns of ``U`` not yet written into the weight."""
        return sum(block.shape[1] for block in self._left)

    def add(self, grad: torch.Tensor, pool5: torch.Tensor, learning_rate: float) -> None:
        """The step ``W -= lr g^T P``; written into ``W`` once the pending rank reaches
        ``flush_rank`` (at once when ``flush_rank`` <= the step's rank)."""
        self._left.append(grad.T * -learning_rate)
        self._right.append(pool5.flatten(1))
        if self.rank >= self.flush_rank:
            self.flush()

    def add_output_shift(self, rows: torch.Tensor, out: torch.Tensor) -> None:
        """Add to ``out``, fc6's outputs on ``rows`` (pool5, ``(N, ...)``) under ``W``, what
        the pending steps add to them: ``rows (U V)^T``; nothing when none is pending."""
        if self._left:
            out.addmm_(rows.flatten(1) @ torch.cat(self._right).T, torch.cat(self._left, dim=1).T)

    def flush(self) -> None:
        """Write the pending steps into the weight: ``W += U V``."""
        if self._left:
            with torch.no_grad():
                self.weight.addmm_(torch.cat(self._left, dim=1), torch.cat(self._right))
            self._left, self._right = [], []
