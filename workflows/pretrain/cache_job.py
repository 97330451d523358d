"""The feature cache of ``phase1.train_layers=conv5|fc`` as Ray tasks: one task per patch shard.

Each task loads the initial weights, runs the frozen layers (conv1-4, or conv1-pool5) over
its shard's patches and writes their output
(:func:`gdt_core.phase1.feature_cache.cache_shard`); finished shards (same patches, same conv
weights, mode and dtype) are skipped, so an interrupted cache resumes where it stopped. Tasks
run on GPUs when ``ray.use_gpu`` (one each), else on one CPU thread each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdt_core.config import Config
from gdt_core.network.network import build_network, load_pretrained
from gdt_core.phase1.feature_cache import CachedShard, cache_dir, cache_shard
from gdt_core.phase1.patches import read_manifest
from workflows.ray_runtime import as_completed


def _network(cfg: Config, init: str | None, device: str) -> Any:
    import warnings

    from gdt_core.network.network import ConvOnlyWeights

    net = build_network(cfg.network, cfg.seed)
    if init:
        with warnings.catch_warnings():  # the driver said it once already
            warnings.simplefilter("ignore", ConvOnlyWeights)
            load_pretrained(init, net)
    return net.to(device).eval()


def _cache_task(
    cfg: Config, init: str | None, patch_dir: str, entry: dict, out_dir: str
) -> CachedShard:
    import torch

    device = "cuda" if cfg.ray.use_gpu and torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)  # one core per task; Ray schedules the parallelism
    net = _network(cfg, init, device)
    p1, mean, std = cfg.phase1, cfg.network.mean, cfg.network.std
    return cache_shard(net, patch_dir, entry, out_dir, p1.train_layers, p1.cache_dtype, mean, std)


def build_feature_cache(
    cfg: Config,
    patch_dir: str | Path,
    init: str | None,
    max_parallel: int | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Compute (or finish) the feature cache of ``patch_dir`` for ``init``'s convolutions
    and ``phase1.train_layers``; returns its folder. Ray must already be initialised."""
    import ray

    patch_dir = Path(patch_dir).resolve()
    shards = read_manifest(patch_dir)["shards"]
    p1 = cfg.phase1
    out_dir = cache_dir(patch_dir, _network(cfg, init, "cpu"), p1.train_layers, p1.cache_dtype)
    resources = {"num_gpus": 1} if cfg.ray.use_gpu else {"num_cpus": 1}
    task = ray.remote(max_retries=cfg.ray.max_task_retries, **resources)(_cache_task)
    cfg_ref = ray.put(cfg)
    start = time.perf_counter()

    def submit(entry: dict) -> Any:
        return task.remote(cfg_ref, init, str(patch_dir), entry, str(out_dir))

    for done, result in enumerate(as_completed(submit, shards, max_parallel), start=1):
        what = "cached before" if result.reused else f"{result.patches / result.seconds:.0f}/s"
        log(f"cache {result.file} [{done}/{len(shards)}] {result.patches} patches, {what}")
    log(f"feature cache: {out_dir} ({time.perf_counter() - start:.1f}s)")
    return out_dir
