"""The phase-1 objective (section 3.2, "obj-general"): object vs background on fc7.

The paper fine-tunes all layers on objectness patches but does not print the loss. As in
Caffe fine-tuning of AlexNet (the paper's toolchain), a new last layer replaces fc8: here a
2-way linear head on ``dropout(ReLU(fc7))`` (fc7 = the 500-d feature x of eq. 1), trained
with softmax cross-entropy (label 1 = object, 0 = background). The head exists only during
phase 1 and is dropped afterwards: the tracker keeps the GDTNet (conv1-fc7) weights, on
which phase 2 and eqs. 1-7 build.

:class:`PatchPool` streams the patch shards of :mod:`gdt_core.phase1.patches` into batches with the
tracker's own input normalisation (:func:`gdt_core.network.images.batch_tensor`, done on the
training device).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gdt_core.network.images import batch_tensor
from gdt_core.network.network import GDTNet
from gdt_core.phase1.patches import decode_patch, load_shard, read_manifest, split_mask, worker_mask

NUM_CLASSES = 2  # background, object
TRAIN_LAYERS = ("all", "fc")  # phase1.train_layers


class ObjectnessNet(nn.Module):
    """GDTNet + the phase-1 head ``Linear(fc7_dim, 2)`` on ``dropout(ReLU(fc7))``.

    ``train_layers="all"`` (the paper): inputs are normalised patches and every layer
    learns. ``"fc"``: the convolutions are frozen and inputs are the patches' flattened pool5
    rows (:mod:`gdt_core.phase1.pool5_cache`); the same function of the patch either way.
    """

    def __init__(self, net: GDTNet, seed: int = 0, train_layers: str = "all") -> None:
        super().__init__()
        if train_layers not in TRAIN_LAYERS:
            raise ValueError(f"train_layers must be one of {TRAIN_LAYERS}, got {train_layers!r}")
        self.net = net
        self.from_pool5 = train_layers == "fc"
        net.features.requires_grad_(not self.from_pool5)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(net.feature_dim, NUM_CLASSES)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Patches ``(B, 3, S, S)`` (or pool5 rows ``(B, 9216)``) -> logits ``(B, 2)``."""
        x = self.net.fc(inputs) if self.from_pool5 else self.net(inputs)
        return self.head(self.net.dropout(torch.relu(x)))


def objectness_step(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Cross-entropy loss (mean over the batch) and the number of correct predictions."""
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    correct = int((logits.detach().argmax(dim=1) == labels).sum())
    return loss, correct


class SamplePool:
    """What a phase-1 worker trains on: ``take(idx)`` -> (inputs, labels) on a device."""

    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(
        self, idx: np.ndarray, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def batch(
        self, rng: np.random.Generator, size: int, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch (without replacement within the batch)."""
        return self.take(rng.choice(len(self), size=min(size, len(self)), replace=False), device)

    def chunks(
        self, size: int, device: str | torch.device = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once, in order, ``size`` at a time (held-out evaluation)."""
        for first in range(0, len(self), size):
            yield self.take(np.arange(first, min(first + size, len(self))), device)


class PatchPool(SamplePool):
    """The encoded patches one training worker samples from, decoded and normalised as the
    tracker's frames are (``mean``, ``std``).

    Worker ``rank`` of ``world`` keeps the patches of ``split`` (train / heldout / all, held
    out by source image: :func:`~gdt_core.phase1.patches.split_mask`) whose global index is ``rank``
    modulo ``world`` (:func:`~gdt_core.phase1.patches.worker_mask`): disjoint, together complete. A
    batch's JPEGs are decoded by ``decode_threads`` threads (OpenCV releases the GIL).
    """

    def __init__(
        self,
        patch_dir: str | Path,
        mean: list[float],
        std: list[float],
        rank: int = 0,
        world: int = 1,
        decode_threads: int = 1,
        split: str = "all",
        holdout_fraction: float = 0.0,
    ) -> None:
        self._decoder = ThreadPoolExecutor(decode_threads) if decode_threads > 1 else None
        self._norm = (mean, std)
        manifest = read_manifest(patch_dir)
        self.blobs: list[bytes] = []
        labels: list[np.ndarray] = []
        offset = 0
        for entry in manifest["shards"]:
            shard = load_shard(Path(patch_dir) / entry["file"])
            keep = worker_mask(len(shard), offset, rank, world)
            keep &= split_mask(shard.source, shard.sources, split, holdout_fraction)
            mine = np.flatnonzero(keep)
            self.blobs += [shard.encoded(i) for i in mine]
            labels.append(shard.labels[mine])
            offset += len(shard)
        self.labels = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, int)
        if not len(self.labels):
            raise ValueError(f"{patch_dir}: no {split} patches for worker {rank} of {world}")

    def take(
        self, idx: np.ndarray, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``idx`` as normalised images ``(B, 3, S, S)`` and their labels."""
        blobs = [self.blobs[i] for i in idx]
        decode = self._decoder.map if self._decoder is not None else map
        patches = np.stack(list(decode(decode_patch, blobs)))
        images = batch_tensor(patches, *self._norm, device)
        return images, torch.from_numpy(self.labels[idx]).to(device)
