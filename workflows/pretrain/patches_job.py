"""Phase-1 objectness patches as Ray tasks: one task per shard, resumable (section 3.2).

The driver lists the DET records of every root (:func:`gdt_core.data.det_sources.list_det_roots`;
no XML parsing), plans the shards
(:func:`gdt_core.phase1.patches.plan_shards`), skips shards whose sidecar matches, runs the others
as Ray tasks (at most ``max_parallel`` at once; default: as many as the cluster schedules),
prints one line per finished shard and writes ``manifest.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gdt_core.config import Config
from gdt_core.data.det_sources import list_det_roots
from gdt_core.phase1.patches import (
    PatchParams,
    ShardResult,
    ShardSpec,
    build_manifest,
    build_shard,
    finished_shard,
    plan_shards,
    write_manifest,
    write_sidecar,
)
from workflows.ray_runtime import as_completed


def _run_shard(spec: ShardSpec, params: PatchParams, out_dir: str) -> ShardResult:
    import cv2

    cv2.setNumThreads(1)  # one core per task; Ray schedules the parallelism
    start, cpu = time.perf_counter(), time.process_time()
    result = build_shard(spec, params, out_dir)
    result.seconds = round(time.perf_counter() - start, 3)
    result.cpu_seconds = round(time.process_time() - cpu, 3)
    write_sidecar(result, out_dir)
    return result


def _describe(result: ShardResult, done: int, total: int) -> str:
    n = result.num_positive + result.num_negative
    rate = n / result.seconds if result.seconds else float("nan")
    return (
        f"shard {result.index:5d} [{done}/{total}] {n} patches "
        f"({result.num_positive} object / {result.num_negative} background), "
        f"{len(result.skipped)} skipped, {result.seconds:.1f}s, {rate:.0f} patches/s"
    )


def build_patches(
    cfg: Config,
    det_roots: Sequence[str | Path],
    out_dir: str | Path,
    num_patches: int | None = None,
    seed: int | None = None,
    split: str = "train",
    max_parallel: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build (or finish) the patch set in ``out_dir``; return its manifest (also written).

    Ray must already be initialised (:func:`workflows.ray_runtime.init_ray`).
    """
    import ray

    num_patches = num_patches or cfg.phase1.num_patches
    seed = cfg.seed if seed is None else seed
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    params = PatchParams.from_config(cfg)
    listing = list_det_roots(det_roots, split)
    entries = listing.entries
    specs = plan_shards(
        entries, num_patches, cfg.ray.patch_shards, cfg.phase1.positive_fraction, seed
    )
    done = {s.index: finished_shard(s, params, out_dir) for s in specs}
    results = [r for r in done.values() if r is not None]
    todo = [s for s in specs if done[s.index] is None]
    log(
        f"{len(entries)} records in {len(listing.sources)} data sets "
        f"({', '.join(listing.sources)}); {len(listing.skipped)} skipped while listing; "
        f"{len(specs)} shards, "
        f"{len(results)} already built, {len(todo)} to build"
    )
    task = ray.remote(num_cpus=1, max_retries=cfg.ray.max_task_retries)(_run_shard)
    params_ref = ray.put(params)
    start = time.perf_counter()

    def submit(spec: ShardSpec) -> Any:
        return task.remote(spec, params_ref, str(out_dir))

    for result in as_completed(submit, todo, max_parallel):
        results.append(result)
        log(_describe(result, len(results), len(specs)))
    elapsed = time.perf_counter() - start
    roots = [str(Path(r).resolve()) for r in det_roots]
    manifest = build_manifest(
        roots, specs, results, params, seed, num_patches, cfg.to_dict(), listing.skipped
    )
    manifest["build_seconds"] = round(elapsed, 3)
    write_manifest(out_dir, manifest)
    counts = manifest["counts"]
    log(
        f"patches: {counts['object']} object + {counts['background']} background in "
        f"{out_dir} ({elapsed:.1f}s); skipped records: {manifest['skipped_count']} "
        f"{manifest['skipped_by_reason']}"
    )
    return manifest
