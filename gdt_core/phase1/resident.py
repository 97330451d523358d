"""Phase-1 patches held decoded in the training device's memory (``phase1.resident``).

Decoding a batch's JPEGs on the host is most of a GPU step (docs/phase1.md). Here every
patch of a worker's share is decoded once, in chunks, into one uint8 tensor on the device
(100k patches of 256 x 256 x 3: 19.7 GB); a batch is then an ``index_select`` and the
normalisation there, in the channels-last layout the convolutions run in. The values are
those of :class:`~gdt_core.phase1.objectness.PatchPool`'s batches, exactly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from gdt_core.network.images import normalisation
from gdt_core.phase1.objectness import PatchPool, SamplePool

DECODE_CHUNK = 2048  # patches decoded on the host per copy to the device
DEVICE_SHARE = 0.6  # at most this share of a GPU's free memory holds patches (the rest trains)


class DoesNotFit(ValueError):
    """The decoded patches would not fit the device's memory."""


def free_bytes(device: torch.device) -> int:
    """Free memory of ``device``: the GPU's (CUDA), else the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class ResidentPatchPool(SamplePool):
    """The patches of ``jpegs`` (a worker's share, as PatchPool loads it) decoded once into
    ``device`` memory as RGB uint8 ``(N, S, S, 3)``; :class:`DoesNotFit` (naming the sizes)
    when they would take more than ``DEVICE_SHARE`` of its free memory."""

    def __init__(self, jpegs: PatchPool, device: str | torch.device, threads: int = 1) -> None:
        self.device = torch.device(device)
        side = jpegs.decoded(np.arange(1)).shape[1]
        need = len(jpegs) * side * side * 3
        free = free_bytes(self.device)
        if need > DEVICE_SHARE * free:
            raise DoesNotFit(
                f"{len(jpegs)} decoded {side} px patches take {need / 2**30:.1f} GiB, over "
                f"{DEVICE_SHARE:.0%} of the {free / 2**30:.1f} GiB free on {self.device}: set "
                "phase1.resident=off (JPEGs decoded per batch) or use more workers"
            )
        self.images = torch.empty((len(jpegs), side, side, 3), dtype=torch.uint8, device=device)
        with ThreadPoolExecutor(threads) as pool:
            for first in range(0, len(jpegs), DECODE_CHUNK):
                idx = np.arange(first, min(first + DECODE_CHUNK, len(jpegs)))
                parts = pool.map(jpegs.decoded, np.array_split(idx, threads))
                rgb = np.concatenate(list(parts))[..., ::-1]
                self.images[first : first + len(idx)].copy_(torch.from_numpy(rgb.copy()))
        self.labels = jpegs.labels
        self._labels = torch.from_numpy(jpegs.labels).to(self.device)
        self._shift, self._scale = normalisation(*map(tuple, jpegs.norm), str(self.device))

    def take(
        self, idx: np.ndarray, device: str | torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``idx`` normalised on the pool's device, ``(B, 3, S, S)`` channels-last,
        and their labels (``device`` must be the pool's)."""
        if device is not None and torch.device(device) != self.device:
            raise ValueError(f"patches live on {self.device}, asked for {device}")
        i = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        if self.device.type == "cuda":  # from pinned memory the copy does not wait for the GPU
            i = i.pin_memory()
        i = i.to(self.device, non_blocking=True)
        rgb = self.images.index_select(0, i).permute(0, 3, 1, 2)  # channels-last strides
        return torch.addcmul(self._shift, rgb.float(), self._scale), self._labels[i]
