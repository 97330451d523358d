"""Objectness-patch building throughput with 1 and 2 shards at once.

``python -m bench.bench_patches [--images 300] [--patches 6000] [--shards 16]`` generates a
synthetic DET set (VOC format), builds the same patch set with at most 1 and then 2 Ray
tasks at once (``network.input_size`` from the config, 256 by default), checks that both
give identical shard bytes, and prints patches/s, the speed-up and the time 100k patches
would take at the measured 2-task rate. Ray start-up and worker warm-up are excluded.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from gdt_core.config import load_config
from gdt_core.data.synthetic_det import generate_det
from workflows.pretrain.patches_job import build_patches
from workflows.ray_runtime import init_ray


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--patches", type=int, default=6000)
    ap.add_argument("--shards", type=int, default=16)
    args = ap.parse_args()
    cfg = load_config().replace({"ray.patch_shards": args.shards})
    with tempfile.TemporaryDirectory() as tmp:
        det = generate_det(Path(tmp) / "det", args.images, seed=0)
        start = time.perf_counter()
        init_ray(num_cpus=2)
        ray_start = time.perf_counter() - start
        # warm-up: start both Ray workers and import the patch code in each (not timed)
        build_patches(cfg, [det], Path(tmp) / "warm", 64, 1, max_parallel=2, log=lambda s: None)
        rows = []
        for parallel in (1, 2):
            out = Path(tmp) / f"p{parallel}"
            m = build_patches(
                cfg, [det], out, args.patches, 0, max_parallel=parallel, log=lambda s: None
            )
            n = m["counts"]["object"] + m["counts"]["background"]
            size = sum(f.stat().st_size for f in out.glob("shard-*.npz"))
            cpu = sum(r["cpu_seconds"] for r in m["shards"])
            rows.append((parallel, n, m["build_seconds"], n / m["build_seconds"], cpu, size / n))
        same = all(
            (Path(tmp) / "p1" / f.name).read_bytes() == f.read_bytes()
            for f in (Path(tmp) / "p2").glob("shard-*.npz")
        )
    print(
        f"synthetic DET: {args.images} images; {args.shards} shards; input "
        f"{cfg.network.input_size}px; Ray start-up {ray_start:.1f}s (not counted)"
    )
    print(
        f"{'tasks':>5} {'patches':>8} {'wall s':>7} {'patches/s':>10} {'task CPU s':>10} "
        f"{'KB/patch':>9}"
    )
    for parallel, n, sec, rate, cpu, per in rows:
        print(f"{parallel:>5} {n:>8} {sec:>7.2f} {rate:>10.0f} {cpu:>10.2f} {per / 1024:>9.1f}")
    speedup = rows[1][3] / rows[0][3]
    print(f"speed-up at 2 tasks: {speedup:.2f}x (target >= 1.7x); identical bytes: {same}")
    print(
        f"CPU-bound rate (patches / task CPU s): {rows[1][1] / rows[1][4]:.0f} per core; "
        f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"100k patches at the 2-task rate: {100_000 / rows[1][3] / 60:.1f} min (target <= 5)")


if __name__ == "__main__":
    main()
