"""The phase-1 objective (section 3.2, "obj-general"): object vs background on fc7.

The paper fine-tunes all layers on objectness patches but does not print the loss. As in
Caffe fine-tuning of AlexNet (the paper's toolchain), a new last layer replaces fc8: here a
2-way linear head on ``dropout(ReLU(fc7))`` (fc7 = the 500-d feature x of eq. 1), trained
with softmax cross-entropy (label 1 = object, 0 = background). The head exists only during
phase 1 and is dropped afterwards: the tracker keeps the GDTNet (conv1-fc7) weights, on
which phase 2 and eqs. 1-7 build.

:class:`PatchPool` streams the patch shards of :mod:`gdt_core.patches` into batches with the
tracker's own input normalisation (:func:`gdt_core.images.batch_tensor`, done on the training
device).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .images import batch_tensor
from .network import GDTNet
from .patches import decode_patch, load_shard, read_manifest

NUM_CLASSES = 2  # background, object


class ObjectnessNet(nn.Module):
    """GDTNet + the phase-1 head ``Linear(fc7_dim, 2)`` on ``dropout(ReLU(fc7))``."""

    def __init__(self, net: GDTNet, seed: int = 0) -> None:
        super().__init__()
        self.net = net
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(net.feature_dim, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised patches ``(B, 3, S, S)`` -> object/background logits ``(B, 2)``."""
        return self.head(self.net.dropout(torch.relu(self.net(images))))


def objectness_step(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Cross-entropy loss (mean over the batch) and the number of correct predictions."""
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    correct = int((logits.detach().argmax(dim=1) == labels).sum())
    return loss, correct


class PatchPool:
    """The encoded patches one training worker samples from.

    Worker ``rank`` of ``world`` keeps the patches whose global index (shard order, then
    position in the shard) is ``rank`` modulo ``world``: disjoint, together complete. A batch's
    JPEGs are decoded by ``decode_threads`` threads (OpenCV releases the GIL while decoding).
    """

    def __init__(
        self, patch_dir: str | Path, rank: int = 0, world: int = 1, decode_threads: int = 1
    ) -> None:
        self._decoder = ThreadPoolExecutor(decode_threads) if decode_threads > 1 else None
        manifest = read_manifest(patch_dir)
        self.blobs: list[bytes] = []
        labels: list[np.ndarray] = []
        offset = 0
        for entry in manifest["shards"]:
            shard = load_shard(Path(patch_dir) / entry["file"])
            mine = [i for i in range(len(shard)) if (offset + i) % world == rank]
            self.blobs += [shard.encoded(i) for i in mine]
            labels.append(shard.labels[mine])
            offset += len(shard)
        self.labels = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, int)
        if not len(self.labels):
            raise ValueError(f"{patch_dir}: no patches for worker {rank} of {world}")

    def __len__(self) -> int:
        return len(self.labels)

    def batch(
        self,
        rng: np.random.Generator,
        size: int,
        mean: list[float],
        std: list[float],
        device: str | torch.device = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch (without replacement within the batch) as (images, labels)."""
        idx = rng.choice(len(self), size=min(size, len(self)), replace=False)
        blobs = [self.blobs[i] for i in idx]
        decode = self._decoder.map if self._decoder is not None else map
        patches = np.stack(list(decode(decode_patch, blobs)))
        images = batch_tensor(patches, mean, std, device)
        return images, torch.from_numpy(self.labels[idx]).to(device)
