"""Phase 1 with frozen layers (``phase1.train_layers`` = ``conv5`` or ``fc``): what they compute
for every patch, once.

The paper fine-tunes all layers in phase 1 (section 3.2); on a CPU that costs ~100 h. With
the lower layers frozen at the ImageNet weights, their output is a fixed function of the
patch: computed once here, training then costs only the layers above. Per mode the cache
holds conv4 after its ReLU (``conv5``: conv5, fc6, fc7 and the head train; ``(256, 15,
15)`` per 256 px patch, 115 KB in float16) or pool5 (``fc``: fc6, fc7 and the head; 9216
values, 18 KB).

Each patch shard ``shard-00000.npz`` gets, in the cache folder (:func:`cache_dir`),
``shard-00000.npy`` (the features, ``phase1.cache_dtype``, read memory-mapped: 100k conv4
maps are 11.5 GB), ``shard-00000.npz`` (``labels``, ``source``, ``sources`` as the shard's)
and, written last, a JSON sidecar whose fingerprint covers the shard's bytes, the convolution
weights, the mode, the dtype and the format: re-runs skip finished shards, anything changed
is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from gdt_core.files import write_text_atomic
from gdt_core.network.images import batch_tensor
from gdt_core.network.network import GDTNet
from gdt_core.phase1.objectness import SamplePool, frozen_features
from gdt_core.phase1.patches import (
    decode_patch,
    load_shard,
    read_manifest,
    split_mask,
    worker_mask,
    write_npz,
)

CACHE_FORMAT = "gdt-flow-frozen/1"
CACHED = {"conv5": "conv4", "fc": "pool5"}  # train_layers -> the cached layer's output
DTYPES = {"float16": np.float16, "float32": np.float32}


def conv_fingerprint(net: GDTNet) -> str:
    """sha256 of the convolution weights (``features.*``, in state-dict order)."""
    digest = hashlib.sha256()
    for key, tensor in net.features.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_dir(patch_dir: str | Path, net: GDTNet, train_layers: str, dtype: str) -> Path:
    """``<patch_dir>/<conv4|pool5>-<conv weights' hash, 12 hex>-<dtype>``."""
    if train_layers not in CACHED:
        raise ValueError(f"phase1.train_layers={train_layers!r} caches nothing")
    return Path(patch_dir) / f"{CACHED[train_layers]}-{conv_fingerprint(net)[:12]}-{dtype}"


@dataclass
class CachedShard:
    """A finished cache shard (its JSON sidecar)."""

    file: str  # the features' .npy
    fingerprint: str
    patches: int
    seconds: float  # wall time of computing it
    reused: bool = False  # found finished (this call computed nothing)


def _fingerprint(shard_sha256: str, conv: str, train_layers: str, dtype: str) -> str:
    payload = [CACHE_FORMAT, shard_sha256, conv, CACHED[train_layers], dtype]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def finished(out_dir: Path, name: str, fingerprint: str) -> CachedShard | None:
    """The sidecar of an up-to-date cache shard ``name``, else ``None``."""
    sidecar = out_dir / f"{name}.json"
    files = (out_dir / f"{name}.npy", out_dir / f"{name}.npz", sidecar)
    if not all(f.is_file() for f in files):
        return None
    try:
        done = CachedShard(**json.loads(sidecar.read_text()))
    except (ValueError, TypeError):
        return None
    return replace(done, reused=True) if done.fingerprint == fingerprint else None


def write_npy(path: Path, array: np.ndarray) -> None:
    """``array`` as a ``.npy`` file written whole or not at all (temporary name, renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, path)


@torch.no_grad()
def cache_shard(
    net: GDTNet,
    patch_dir: str | Path,
    entry: dict,
    out_dir: str | Path,
    train_layers: str,
    dtype: str,
    mean: list[float],
    std: list[float],
    batch: int = 64,
) -> CachedShard:
    """The frozen layers' output for one patch shard (``entry`` = its manifest entry) into
    ``out_dir``; skipped when already there for these weights, mode and dtype."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(entry["file"]).stem
    fingerprint = _fingerprint(entry["sha256"], conv_fingerprint(net), train_layers, dtype)
    done = finished(out_dir, name, fingerprint)
    if done is not None:
        return done
    start = time.perf_counter()
    shard = load_shard(Path(patch_dir) / entry["file"])
    net.eval()
    device = next(net.parameters()).device
    rows: np.ndarray | None = None
    for first in range(0, len(shard), batch):
        idx = range(first, min(first + batch, len(shard)))
        images = batch_tensor(
            np.stack([decode_patch(shard.encoded(i)) for i in idx]), mean, std, device
        )
        out = frozen_features(net, images, train_layers).cpu().numpy()
        if rows is None:
            rows = np.zeros((len(shard), *out.shape[1:]), dtype=DTYPES[dtype])
        rows[first : first + len(idx)] = out
    write_npy(out_dir / f"{name}.npy", rows if rows is not None else np.zeros(0, DTYPES[dtype]))
    meta = {"labels": shard.labels, "source": shard.source, "sources": shard.sources}
    write_npz(out_dir / f"{name}.npz", meta)
    result = CachedShard(f"{name}.npy", fingerprint, len(shard), time.perf_counter() - start)
    write_text_atomic(out_dir / f"{name}.json", json.dumps(asdict(result)))
    return result


class CachedPool(SamplePool):
    """The cached features one training worker samples from: the same rank/world split and
    held-out split as :class:`~gdt_core.phase1.objectness.PatchPool`; the features are read
    memory-mapped, a batch's rows at a time, as float32."""

    def __init__(
        self,
        patch_dir: str | Path,
        cache: str | Path,
        rank: int = 0,
        world: int = 1,
        split: str = "train",
        holdout_fraction: float = 0.0,
    ) -> None:
        self._arrays: list[np.ndarray] = []
        shard_of: list[np.ndarray] = []
        row_of: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        offset = 0
        for k, entry in enumerate(read_manifest(patch_dir)["shards"]):
            stem = Path(cache) / Path(entry["file"]).stem
            try:
                features = np.load(f"{stem}.npy", mmap_mode="r", allow_pickle=False)
                with np.load(f"{stem}.npz", allow_pickle=False) as data:
                    meta = {k: data[k] for k in ("labels", "source", "sources")}
            except (OSError, KeyError, ValueError) as exc:
                raise ValueError(f"{stem}.npy: not a feature cache shard ({exc})") from None
            keep = worker_mask(len(meta["labels"]), offset, rank, world)
            keep &= split_mask(meta["source"], meta["sources"], split, holdout_fraction)
            mine = np.flatnonzero(keep)
            self._arrays.append(features)
            shard_of.append(np.full(len(mine), k))
            row_of.append(mine)
            labels.append(meta["labels"][mine])
            offset += len(meta["labels"])
        self._shard = np.concatenate(shard_of)
        self._row = np.concatenate(row_of)
        self.labels = np.concatenate(labels).astype(np.int64)
        if not len(self.labels):
            raise ValueError(f"{cache}: no {split} patches for worker {rank} of {world}")

    def take(
        self, idx: np.ndarray, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of samples ``idx`` as float32 ``(B, ...)`` and their labels, on ``device``."""
        idx = np.asarray(idx)
        shape = self._arrays[self._shard[idx[0]]].shape[1:]
        out = np.empty((len(idx), *shape), dtype=np.float32)
        for k in np.unique(self._shard[idx]):
            at = np.flatnonzero(self._shard[idx] == k)
            rows = self._row[idx[at]]
            order = np.argsort(rows)  # in file order
            out[at[order]] = self._arrays[k][rows[order]]
        return torch.from_numpy(out).to(device), torch.from_numpy(self.labels[idx]).to(device)
