"""Phase 1 with frozen convolutions (``phase1.train_layers=fc``): pool5 of every patch, once.

The paper fine-tunes all layers in phase 1 (section 3.2). With ImageNet conv1-5 and no fc
weights to start from, learning fc6/fc7 (+ the objectness head) on top of frozen
convolutions is the affordable variant on a CPU: the convolutions run once per patch here,
and training then costs the fc layers alone. Each patch shard ``shard-00000.npz`` gets a
``shard-00000.npz`` in the cache folder (:func:`cache_dir`) holding ``pool5`` ``(N, 9216)``
in ``phase1.pool5_dtype``, ``labels``, ``source``, ``sources`` (as the shard's), written
atomically with a JSON sidecar whose fingerprint covers the shard's bytes, the convolution
weights, the dtype and the format: re-runs skip finished shards, anything changed is
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from gdt_core.files import write_text_atomic
from gdt_core.network.images import batch_tensor
from gdt_core.network.network import GDTNet
from gdt_core.phase1.objectness import SamplePool
from gdt_core.phase1.patches import (
    decode_patch,
    load_shard,
    read_manifest,
    split_mask,
    worker_mask,
    write_npz,
)

POOL5_FORMAT = "gdt-flow-pool5/1"
DTYPES = {"float16": np.float16, "float32": np.float32}


def conv_fingerprint(net: GDTNet) -> str:
    """sha256 of the convolution weights (``features.*``, in state-dict order)."""
    digest = hashlib.sha256()
    for key, tensor in net.features.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_dir(patch_dir: str | Path, net: GDTNet, dtype: str) -> Path:
    """``<patch_dir>/pool5-<conv weights' hash, 12 hex>-<dtype>``."""
    return Path(patch_dir) / f"pool5-{conv_fingerprint(net)[:12]}-{dtype}"


@dataclass
class CachedShard:
    """A finished cache shard (its JSON sidecar)."""

    file: str
    fingerprint: str
    patches: int
    seconds: float  # wall time of computing it
    reused: bool = False  # found finished (this call computed nothing)


def _fingerprint(shard_sha256: str, conv: str, dtype: str) -> str:
    return hashlib.sha256(
        json.dumps([POOL5_FORMAT, shard_sha256, conv, dtype]).encode()
    ).hexdigest()


def finished(out_dir: Path, name: str, fingerprint: str) -> CachedShard | None:
    """The sidecar of an up-to-date cache shard ``name``, else ``None``."""
    sidecar = out_dir / f"{name}.json"
    if not sidecar.is_file() or not (out_dir / f"{name}.npz").is_file():
        return None
    try:
        done = CachedShard(**json.loads(sidecar.read_text()))
    except (ValueError, TypeError):
        return None
    return replace(done, reused=True) if done.fingerprint == fingerprint else None


@torch.no_grad()
def cache_shard(
    net: GDTNet,
    patch_dir: str | Path,
    entry: dict,
    out_dir: str | Path,
    dtype: str,
    mean: list[float],
    std: list[float],
    batch: int = 64,
) -> CachedShard:
    """pool5 of one patch shard (``entry`` = its manifest entry) into ``out_dir``; skipped
    when already there for these weights and dtype."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(entry["file"]).stem
    fingerprint = _fingerprint(entry["sha256"], conv_fingerprint(net), dtype)
    done = finished(out_dir, name, fingerprint)
    if done is not None:
        return done
    start = time.perf_counter()
    shard = load_shard(Path(patch_dir) / entry["file"])
    net.eval()
    device = next(net.parameters()).device
    rows = np.zeros((len(shard), net.fc6.in_features), dtype=DTYPES[dtype])
    for first in range(0, len(shard), batch):
        idx = range(first, min(first + batch, len(shard)))
        images = batch_tensor(
            np.stack([decode_patch(shard.encoded(i)) for i in idx]), mean, std, device
        )
        pool5 = net.pool5(net.conv5(images))
        rows[first : first + len(idx)] = torch.flatten(pool5, 1).cpu().numpy()
    arrays = {
        "pool5": rows,
        "labels": shard.labels,
        "source": shard.source,
        "sources": shard.sources,
    }
    write_npz(out_dir / f"{name}.npz", arrays)
    result = CachedShard(f"{name}.npz", fingerprint, len(shard), time.perf_counter() - start)
    write_text_atomic(out_dir / f"{name}.json", json.dumps(asdict(result)))
    return result


class Pool5Pool(SamplePool):
    """The cached pool5 rows one training worker samples from: the same rank/world split
    and held-out split as :class:`~gdt_core.phase1.objectness.PatchPool`, float32 batches."""

    def __init__(
        self,
        patch_dir: str | Path,
        cache: str | Path,
        rank: int = 0,
        world: int = 1,
        split: str = "train",
        holdout_fraction: float = 0.0,
    ) -> None:
        rows: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        offset = 0
        for entry in read_manifest(patch_dir)["shards"]:
            path = Path(cache) / entry["file"]
            try:
                with np.load(path, allow_pickle=False) as data:
                    part = {k: data[k] for k in ("pool5", "labels", "source", "sources")}
            except (OSError, KeyError, ValueError) as exc:
                raise ValueError(f"{path}: not a pool5 cache shard ({exc})") from None
            keep = worker_mask(len(part["labels"]), offset, rank, world)
            keep &= split_mask(part["source"], part["sources"], split, holdout_fraction)
            rows.append(part["pool5"][keep])
            labels.append(part["labels"][keep])
            offset += len(part["labels"])
        self.rows = np.concatenate(rows)
        self.labels = np.concatenate(labels).astype(np.int64)
        if not len(self.labels):
            raise ValueError(f"{cache}: no {split} patches for worker {rank} of {world}")

    def take(
        self, idx: np.ndarray, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``idx`` as float32 ``(B, 9216)`` and their labels, on ``device``."""
        rows = torch.from_numpy(self.rows[idx]).to(device=device, dtype=torch.float32)
        return rows, torch.from_numpy(self.labels[idx]).to(device)
