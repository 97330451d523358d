"""The phase-1 objective (section 3.2, "obj-general"): object vs background on fc7.

The paper fine-tunes all layers on objectness patches but does not print the loss. As in
Caffe fine-tuning of AlexNet (the paper's toolchain), a new last layer replaces fc8: here a
2-way linear head on ``dropout(ReLU(fc7))`` (fc7 = the 500-d feature x of eq. 1), trained
with softmax cross-entropy (label 1 = object, 0 = background). The head exists only during
phase 1 and is dropped afterwards: the tracker keeps the GDTNet (conv1-fc7) weights, on
which phase 2 and eqs. 1-7 build.

``phase1.train_layers`` says which layers learn: ``all`` (the paper), or, where a CPU must
do it, ``conv5`` (conv1-4 frozen) or ``fc`` (conv1-5 frozen). With frozen layers the model's
input is what they compute for each patch (:func:`frozen_features`), computed once per patch
(:mod:`gdt_core.phase1.feature_cache`): the same function of the patch either way.

:class:`PatchPool` streams the patch shards of :mod:`gdt_core.phase1.patches` into batches with the
tracker's own input normalisation (:func:`gdt_core.network.images.batch_tensor`, done on the
training device).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
TRAIN_LAYERS = ("all", "conv5", "fc")  # phase1.train_layers
FROZEN_MODULES = {"all": 0, "conv5": 10, "fc": 13}  # GDTNet.features[:k] frozen per mode


def frozen_features(net: GDTNet, images: torch.Tensor, train_layers: str) -> torch.Tensor:
    """What the frozen layers of ``train_layers`` compute from normalised patches ``(B, 3, S,
    S)``: conv4 after its ReLU ``(B, 256, h, w)`` for ``conv5``, flattened pool5 ``(B, 9216)``
    for ``fc``."""
    if train_layers == "conv5":
        cut = FROZEN_MODULES["conv5"]
        return net.features[:cut](images.contiguous(memory_format=torch.channels_last))
    if train_layers == "fc":
        return torch.flatten(net.pool5(net.conv5(images)), 1)
    raise ValueError(f"train_layers={train_layers!r} freezes no layer")


class ObjectnessNet(nn.Module):
    """GDTNet + the phase-1 head ``Linear(fc7_dim, 2)`` on ``dropout(ReLU(fc7))``.

    ``train_layers="all"`` (the paper): inputs are normalised patches and every layer
    learns. ``"conv5"`` / ``"fc"``: the layers below conv5 / fc6 are frozen and inputs are
    their output (:func:`frozen_features`).
    """

    def __init__(self, net: GDTNet, seed: int = 0, train_layers: str = "all") -> None:
        super().__init__()
        if train_layers not in TRAIN_LAYERS:
            raise ValueError(f"train_layers must be one of {TRAIN_LAYERS}, got {train_layers!r}")
        self.net = net
        self.train_layers = train_layers
        net.features.requires_grad_(True)
        net.features[: FROZEN_MODULES[train_layers]].requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(net.feature_dim, NUM_CLASSES)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Model inputs (patches, conv4 maps or pool5 rows, by mode) -> logits ``(B, 2)``."""
        net = self.net
        if self.train_layers == "all":
            x = net(inputs)
        elif self.train_layers == "conv5":
            conv4 = inputs.contiguous(memory_format=torch.channels_last)
            x = net.fc(net.pool5(net.features[FROZEN_MODULES["conv5"] : 12](conv4)))
        else:
            x = net.fc(inputs)
        return self.head(net.dropout(torch.relu(x)))


def objectness_step(
    model: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy loss (mean over the batch) and the number of correct predictions, both
    as tensors on the model's device (reading them is left to the caller: no sync here)."""
    logits = model(inputs)
    loss = F.cross_entropy(logits.float(), labels)
    correct = (logits.detach().argmax(dim=1) == labels).sum()
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
        self.norm = (mean, std)
        manifest = read_manifest(patch_dir)
        self.blobs: list[bytes] = []
        labels: list[np.ndarray] = []
        offset = 0
        for entry in manifest["shards"]:
            shard = load_shard(Path(patch_dir) / entry["file"])
            keep = worker_mask(len(shard), offset, rank, world)
            keep &= split_mask(shard.source, shard.sources, split, holdout_fraction)
            mine = np.flatnonzero(keep)
            self.blobs += [shard.encoded(int(i)) for i in mine]
            labels.append(shard.labels[mine])
            offset += len(shard)
        self.labels = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, int)
        if not len(self.labels):
            raise ValueError(f"{patch_dir}: no {split} patches for worker {rank} of {world}")

    def decoded(self, idx: np.ndarray) -> np.ndarray:
        """Patches ``idx`` decoded: a BGR uint8 stack ``(B, S, S, 3)``."""
        blobs = [self.blobs[i] for i in idx]
        decode = self._decoder.map if self._decoder is not None else map
        return np.stack(list(decode(decode_patch, blobs)))

    def take(
        self, idx: np.ndarray, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``idx`` as normalised images ``(B, 3, S, S)`` and their labels."""
        images = batch_tensor(self.decoded(idx), *self.norm, device)
        return images, torch.from_numpy(self.labels[idx]).to(device)
