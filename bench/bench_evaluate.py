"""Wall time of one OTB evaluation on Ray with 1 and 2 tracking actors.

``python -m bench.bench_evaluate [--otb-root ../shared/data/otb] [--tracker csrt]
[--config configs/demo.yaml] [--set key=value ...] [--actors 1 2]`` evaluates the 9 shared
targets (Couple, Crossing, Football1, Jumping, Skiing, David, Jogging-1, Jogging-2, Human7;
2063 frames) once per actor count, each time from an empty run directory (no resume), and
prints: wall time (driver's view, actor start-up included), the sum of the targets' tracking
time, the actors' CPU share (CPU seconds / wall seconds while tracking: 1.0 = each actor had a
core to itself; less = other processes competed for the cores), the speed-up over 1 actor,
and each actor's start-up overhead (creation -> ready: worker process, imports, tracker
construction and weights), with the machine's load average before and after. Ray itself is
started and its workers warmed up before timing. Targets: >= 1.8x at 2 actors,
<= 2 s start-up. The default tracker is OpenCV's CSRT (~45 frames/s here): the fan-out is
what is measured, and GDT with the paper's sizes would take many minutes per run on 2 cores;
``--tracker gdt --config configs/demo.yaml --targets ...`` measures GDT itself.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from gdt_core.config import load_config
from gdt_core.resources import SOURCE_ROOT
from gdt_core.tracking.trackers import TRACKERS
from workflows.evaluate.evaluate_job import run_evaluation
from workflows.evaluate.evaluation import EvaluationSpec
from workflows.ray_runtime import init_ray

SHARED_TARGETS = [
    "Couple",
    "Crossing",
    "Football1",
    "Jumping",
    "Skiing",
    "David",
    "Jogging-1",
    "Jogging-2",
    "Human7",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--otb-root", default=str(SOURCE_ROOT.parent / "shared" / "data" / "otb"))
    ap.add_argument("--tracker", default="csrt", choices=TRACKERS)
    ap.add_argument("--config", action="append", default=[], help="overlay YAML (repeatable)")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    ap.add_argument("--targets", default=",".join(SHARED_TARGETS))
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = ap.parse_args()

    cfg = load_config(args.config, args.overrides)
    targets = args.targets.split(",")
    spec = EvaluationSpec(cfg, args.tracker, root=args.otb_root)
    load_before = os.getloadavg()[0]
    init_ray(num_cpus=args.num_cpus)
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up (not timed): the Ray workers exist and have imported the code once
        run_evaluation(spec, targets[:1], Path(tmp) / "warm", max_actors=max(args.actors))
        rows = []
        for n in args.actors:
            start = time.perf_counter()
            result, startup = run_evaluation(spec, targets, Path(tmp) / f"a{n}", max_actors=n)
            wall = time.perf_counter() - start
            frames = sum(r.frames for r in result.done)
            tracking = sum(r.seconds for r in result.done)
            share = sum(r.cpu_seconds for r in result.done) / tracking
            rows.append((n, wall, frames, tracking, share, startup, len(result.failed)))

    print(f"tracker {args.tracker}, config {args.config or ['default']} {args.overrides}")
    print(f"load average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"{len(targets)} targets from {args.otb_root}, Ray num_cpus={args.num_cpus}")
    print(
        f"{'actors':>6} {'wall s':>8} {'frames':>7} {'frames/s':>9} {'tracking s':>11} "
        f"{'CPU share':>9} {'speed-up':>9} {'start-up s (each actor)':>24} {'failed':>6}"
    )
    base = rows[0][1]
    for n, wall, frames, tracking, share, startup, failed in rows:
        ups = " ".join(f"{s:.2f}" for s in startup)
        print(
            f"{n:>6} {wall:>8.1f} {frames:>7} {frames / wall:>9.1f} {tracking:>11.1f} "
            f"{share:>9.2f} {base / wall:>8.2f}x {ups:>24} {failed:>6}"
        )


if __name__ == "__main__":
    main()
