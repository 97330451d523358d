"""Phase-1 training throughput per worker, on this machine's CPU or a GPU.

    python -m bench.bench_pretrain [--device cpu|cuda] [--batch 32] [--steps 3]
                                   [--modes all,conv5,fc] [--threads 2] [--set key=value ...]
    python -m bench.bench_pretrain --device cuda --batch 128 --steps 50 --modes all

builds a patch set from synthetic DET data (in-process, ``--patches`` of them), then times
:class:`gdt_core.phase1.training.Phase1Training`'s steps (the loop ``gdt-flow pretrain`` runs in
each Ray Train worker, with the config's network: 256 px input, fc6 4096, fc7 500) after
``--warmup`` untimed steps (``torch.compile`` compiles in them), per mode:

* ``all`` (the paper: every layer learns), twice: patches decoded from JPEG per batch
  (``phase1.resident=off``, ``--worker-cpus`` threads) and resident in the device's memory
  (``phase1.resident=on``, decoded once; skipped where they do not fit);
* ``conv5`` / ``fc``: the frozen layers' output computed once per patch by the Ray tasks of
  :mod:`workflows.pretrain.cache_job` (1 and 2 tasks at once), then the steps on it.

Prints, per row, patches/s of the loop (no per-step synchronisation, as in training), the
share of a step spent preparing the batch (the same batches prepared alone, over the same
steps' time; on a GPU both synchronised at their ends) and what the paper's 100k iterations
of 128 patches would take at that rate; ratios are to the first row, measured in this run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gdt_core.config import Config, load_config
from gdt_core.data.det import list_entries
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.network import build_network
from gdt_core.phase1.patches import build_patch_set
from gdt_core.phase1.resident import DoesNotFit
from gdt_core.phase1.training import Phase1Training, speed_settings, training_pool

PAPER_PATCHES = 100_000 * 128  # 100k iterations of 128 (section 4)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(training: Phase1Training, steps: int, warmup: int) -> tuple[float, float]:
    """patches/s of ``steps`` steps after ``warmup`` ones, and the batch preparation's share."""
    for _ in range(warmup):
        training.train_step()
    sync(training.device)
    start = time.perf_counter()
    for _ in range(steps):
        training.train_step()
    sync(training.device)
    step_s = time.perf_counter() - start
    start = time.perf_counter()
    for step in range(steps):
        training.batch(step)
    sync(training.device)
    data_s = time.perf_counter() - start
    return training.per_worker * steps / step_s, data_s / step_s


def patch_set(cfg: Config, tmp: Path, n: int) -> Path:
    """``n`` patches from 40 synthetic DET images, 2 shards, with a manifest."""
    det, out = tmp / "det", tmp / "patches"
    generate_det(det, 40, seed=0)
    build_patch_set(list_entries(det), out, cfg.replace({"seed": 0}), n, 2, roots=[det])
    return out


def cache_rates(cfg: Config, patches: Path) -> tuple[Path, dict[int, float]]:
    """The feature cache of ``cfg``'s mode through Ray tasks, 1 and 2 at once (workers warmed
    first, not timed): its folder and patches/s per parallel count."""
    from workflows.pretrain.cache_job import build_feature_cache
    from workflows.ray_runtime import init_ray

    init_ray(num_cpus=2)
    quiet = dict(init=None, log=lambda s: None)
    out = build_feature_cache(cfg, patches, max_parallel=2, **quiet)  # warm-up
    rates = {}
    for parallel in (1, 2):
        shutil.rmtree(out)
        start = time.perf_counter()
        build_feature_cache(cfg, patches, max_parallel=parallel, **quiet)
        n = len(training_pool(cfg, patches, "cpu", cache=out))
        rates[parallel] = n / (time.perf_counter() - start)
    return out, rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="where the steps run (cpu, cuda)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--modes", default="all,conv5,fc")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    ap.add_argument("--worker-cpus", type=int, default=1, help="phase1.worker_cpus")
    ap.add_argument("--patches", type=int, default=256, help="patches in the synthetic set")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    base = load_config(overrides=args.overrides).replace(
        {"phase1.batch_size": args.batch, "phase1.worker_cpus": args.worker_cpus}
    )
    rows: list[tuple[str, float, float]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        patches = patch_set(base, Path(tmp), max(4 * args.batch, args.patches))
        for mode in args.modes.split(","):
            variants = {"all": [("off", "JPEG per batch"), ("on", "resident")]}.get(
                mode, [("off", "cached features")]
            )
            cfg = base.replace({"phase1.train_layers": mode})
            cache = None
            if mode != "all":
                cache, rates = cache_rates(cfg, patches)
                for parallel, rate in rates.items():
                    notes.append(f"{mode} cache: {rate:.1f} patches/s with {parallel} Ray task(s)")
            for resident, what in variants:
                run = cfg.replace({"phase1.resident": resident})
                try:
                    pool = training_pool(run, patches, device, cache=cache)
                except DoesNotFit as exc:
                    notes.append(f"{mode}, {what}: skipped ({exc})")
                    continue
                training = Phase1Training(run, build_network(run.network, 0), pool, device)
                rate, share = time_training(training, args.steps, args.warmup)
                speed = speed_settings(run, device)
                flags = f"bf16={speed.bf16} compile={speed.compile}"
                rows.append((f"{mode}, {what} ({flags})", rate, share))
    net = base.network
    print(
        f"phase-1 steps on {device} ({torch.get_num_threads()} torch threads): input "
        f"{net.input_size}px, fc6 {net.fc6_dim}, fc7 {net.fc7_dim}, batch {args.batch}, "
        f"{args.steps} timed steps after {args.warmup}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"{'mode':<58}{'patches/s':>10}{'ratio':>7}{'data share':>11}{'100k x 128':>11}")
    for what, rate, share in rows:
        hours = PAPER_PATCHES / rate / 3600
        ratio = rate / rows[0][1]
        print(f"{what:<58}{rate:>10.1f}{ratio:>6.2f}x{share:>10.0%}{hours:>10.2f}h")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
