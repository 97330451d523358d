"""Phase-1 training throughput on this machine's CPU or a GPU (issues 4 and 19).

``python -m bench.bench_pretrain [--batch 32] [--steps 3] [--threads 1 2] [--device cuda]
[--decode-threads 1 4] [--cache-patches 256]`` builds a small patch set from synthetic DET
data (in-process), then

* ``phase1.train_layers=all``: times SGD steps of the objectness model
  (:mod:`gdt_core.phase1.objectness`, all layers, the config's network: 256 px input, fc6 4096, fc7
  500) after one warm-up step, for each torch thread count and patch-decoding thread count
  (``phase1.decode_threads``): patches/s of a whole step and the share of it spent preparing
  the batch (decoding on the host);
* ``phase1.train_layers=fc``: the pool5 cache through its Ray tasks
  (:mod:`workflows.pretrain.pool5_job`) with 1 and 2 tasks at once (patches/s, warm workers), then
  SGD steps of fc6/fc7 + head on cached rows (patches/s) per torch thread count;

and prints what the paper's 100k patches cost in each mode. This is the per-worker compute of
``gdt-flow pretrain``; Ray Train adds DDP all-reduce and start-up on top.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdt_core.config import Config, load_config
from gdt_core.data.det import list_entries
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.network import build_network
from gdt_core.phase1.objectness import ObjectnessNet, PatchPool, objectness_step
from gdt_core.phase1.patches import (
    PatchParams,
    build_manifest,
    build_shard,
    plan_shards,
    write_manifest,
)
from gdt_core.phase1.pool5_cache import Pool5Pool
from workflows.pretrain.pool5_job import build_pool5_cache
from workflows.ray_runtime import init_ray


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", help="where the SGD steps run (cpu, cuda)")
    ap.add_argument("--decode-threads", type=int, nargs="+", default=[1])
    ap.add_argument("--cache-patches", type=int, default=256, help="patches cached per run")
    args = ap.parse_args()
    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        patches = Path(tmp) / "patches"
        n = max(4 * args.batch, args.cache_patches)
        _patch_set(cfg, Path(tmp) / "det", patches, n)
        norm = (cfg.network.mean, cfg.network.std)
        pools = {d: PatchPool(patches, *norm, decode_threads=d) for d in args.decode_threads}
        _all_layers(cfg, args, pools)
        caching = _cache_rates(cfg, patches)
        cache = sorted(patches.glob("pool5-*"))[0]
        fc = _fc_rates(cfg, args, Pool5Pool(patches, cache))
    _paper_cost(cfg, caching, fc)


def _patch_set(cfg: Config, det: Path, out: Path, n: int) -> None:
    """``n`` patches from 40 synthetic DET images, 2 shards, with a manifest."""
    generate_det(det, 40, seed=0)
    params = PatchParams.from_config(cfg)
    specs = plan_shards(list_entries(det), n, 2, 0.5, 0)
    results = [build_shard(s, params, out) for s in specs]
    write_manifest(out, build_manifest([str(det)], specs, results, params, 0, n, cfg.to_dict()))


def _timed_steps(model: Any, pool: Any, args: argparse.Namespace, lr: float) -> tuple[float, float]:
    """patches/s of ``args.steps`` SGD steps after a warm-up one, and the batch's share."""
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=lr, momentum=0.9)
    rng = np.random.default_rng(0)
    data_s = step_s = 0.0
    for i in range(args.steps + 1):
        t0 = time.perf_counter()
        inputs, labels = pool.batch(rng, args.batch, args.device)
        t1 = time.perf_counter()
        loss, _ = objectness_step(model, inputs, labels)  # its accuracy count syncs
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss.detach())  # waits for a GPU's step
        t2 = time.perf_counter()
        if i:  # step 0 is the warm-up
            data_s, step_s = data_s + t1 - t0, step_s + t2 - t0
    return args.batch * args.steps / step_s, data_s / step_s


def _all_layers(cfg: Config, args: argparse.Namespace, pools: dict[int, PatchPool]) -> None:
    net_cfg, p1 = cfg.network, cfg.phase1
    rows = []
    for threads, (decoders, pool) in itertools.product(args.threads, pools.items()):
        torch.set_num_threads(threads)
        model = ObjectnessNet(build_network(net_cfg, 0)).to(args.device).train()
        rate, share = _timed_steps(model, pool, args, p1.learning_rate)
        rows.append((threads, decoders, rate, share))
    print(
        f"objectness SGD on {args.device}: input {net_cfg.input_size}px, fc6 {net_cfg.fc6_dim}, "
        f"fc7 {net_cfg.fc7_dim}, batch {args.batch}, {args.steps} timed steps"
    )
    print(f"{'threads':>7} {'decoders':>8} {'patches/s':>10} {'data share':>11}")
    for threads, decoders, rate, share in rows:
        print(f"{threads:>7} {decoders:>8} {rate:>10.1f} {share:>10.0%}")
    best = max(r[2] for r in rows)
    print(
        f"paper schedule (100k iterations x batch {p1.batch_size}) at {best:.1f} patches/s: "
        f"{100_000 * p1.batch_size / best / 3600:.1f} h on this {args.device}"
    )


def _cache_rates(cfg: Config, patches: Path) -> dict[int, float]:
    """pool5 caching through Ray tasks, 1 and 2 at once (workers warmed first, not timed)."""
    import shutil

    init_ray(num_cpus=2)
    build_pool5_cache(cfg, patches, None, max_parallel=2, log=lambda s: None)  # warm-up
    rates = {}
    for parallel in (1, 2):
        for old in patches.glob("pool5-*"):
            shutil.rmtree(old)
        start = time.perf_counter()
        build_pool5_cache(cfg, patches, None, max_parallel=parallel, log=lambda s: None)
        rates[parallel] = len(PatchPool(patches, [0.0] * 3, [1.0] * 3)) / (
            time.perf_counter() - start
        )
    print(f"pool5 cache (phase1.train_layers=fc), {cfg.network.input_size}px patches, Ray tasks:")
    print(f"{'tasks':>7} {'patches/s':>10} {'ratio':>7}")
    for parallel, rate in rates.items():
        print(f"{parallel:>7} {rate:>10.1f} {rate / rates[1]:>6.2f}x")
    return rates


def _fc_rates(cfg: Config, args: argparse.Namespace, pool: Pool5Pool) -> float:
    """SGD steps of fc6/fc7 + head on cached pool5 rows, per torch thread count."""
    print(f"fc6/fc7 + head SGD on cached pool5 ({args.device}), batch {args.batch}:")
    print(f"{'threads':>7} {'patches/s':>10}")
    best = 0.0
    for threads in args.threads:
        torch.set_num_threads(threads)
        net = build_network(cfg.network, 0)
        model = ObjectnessNet(net, 0, "fc").to(args.device).train()
        rate, _ = _timed_steps(model, pool, args, cfg.phase1.learning_rate)
        print(f"{threads:>7} {rate:>10.1f}")
        best = max(best, rate)
    return best


def _paper_cost(cfg: Config, caching: dict[int, float], fc_rate: float) -> None:
    p1, n = cfg.phase1, 100_000
    cache_h = n / max(caching.values()) / 3600
    print(
        f"fc mode, the paper's {n} patches: caching {cache_h:.2f} h, then per epoch "
        f"(each training patch once) {n * (1 - p1.holdout_fraction) / fc_rate / 3600:.2f} h"
    )


if __name__ == "__main__":
    main()
