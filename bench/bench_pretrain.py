"""Phase-1 training throughput on this machine's CPU or a GPU (issue 4).

``python -m bench.bench_pretrain [--batch 32] [--steps 3] [--threads 1 2] [--device cuda]
[--decode-threads 1 4]`` builds a small patch set from synthetic DET data (in-process), then
times SGD steps of the objectness model (:mod:`gdt_core.objectness`, all layers, the config's
network: 256 px input, fc6 4096, fc7 500) after one warm-up step, for each torch thread count
and patch-decoding thread count (``phase1.decode_threads``): patches/s of a whole step and the
share of it spent preparing the batch (decoding on the host). This is the per-worker compute
of ``gdt-flow pretrain``; Ray Train adds DDP all-reduce and start-up on top.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gdt_core.config import load_config
from gdt_core.det import list_entries
from gdt_core.network import build_network
from gdt_core.objectness import ObjectnessNet, PatchPool, objectness_step
from gdt_core.patches import (
    PatchParams,
    build_manifest,
    build_shard,
    plan_shards,
    write_manifest,
)
from gdt_core.synthetic_det import generate_det


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", help="where the SGD steps run (cpu, cuda)")
    ap.add_argument("--decode-threads", type=int, nargs="+", default=[1])
    args = ap.parse_args()
    cfg = load_config()
    net_cfg, p1 = cfg.network, cfg.phase1
    with tempfile.TemporaryDirectory() as tmp:
        det = generate_det(Path(tmp) / "det", 40, seed=0)
        params = PatchParams.from_config(cfg)
        specs = plan_shards(list_entries(det), 4 * args.batch, 1, 0.5, 0)
        results = [build_shard(s, params, tmp) for s in specs]
        manifest = build_manifest(det, specs, results, params, 0, 4 * args.batch, cfg.to_dict())
        write_manifest(tmp, manifest)
        pools = {n: PatchPool(tmp, decode_threads=n) for n in args.decode_threads}
    rows = []
    for threads, (decoders, pool) in itertools.product(args.threads, pools.items()):
        torch.set_num_threads(threads)
        model = ObjectnessNet(build_network(net_cfg, 0)).to(args.device).train()
        opt = torch.optim.SGD(model.parameters(), lr=p1.learning_rate, momentum=p1.momentum)
        rng = np.random.default_rng(0)
        data_s = step_s = 0.0
        for i in range(args.steps + 1):
            t0 = time.perf_counter()
            images, labels = pool.batch(rng, args.batch, net_cfg.mean, net_cfg.std, args.device)
            t1 = time.perf_counter()
            loss, _ = objectness_step(model, images, labels)  # its accuracy count syncs
            opt.zero_grad()
            loss.backward()
            opt.step()
            float(loss.detach())  # waits for a GPU's step
            t2 = time.perf_counter()
            if i:  # step 0 is the warm-up
                data_s, step_s = data_s + t1 - t0, step_s + t2 - t0
        rows.append((threads, decoders, args.batch * args.steps / step_s, data_s / step_s))
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


if __name__ == "__main__":
    main()
