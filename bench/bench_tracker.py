"""GDT's two candidate-feature paths and OpenCV's CSRT on the real OTB targets.

    python -m bench.bench_tracker [--otb-root ../shared/data/otb] [--max-frames N]
                                  [--paths crop,pooled] [--set key=value ...]
    python -m bench.bench_tracker --set tracker.device=cuda --baseline ''    # on a GPU

Each tracker first runs --warmup-frames frames of the first target untimed (library and
kernel set-up), then the trackers run each target in lockstep, taking turns frame by frame
(this VM's speed drifts within a run: every tracker then sees the same drift).
Prints, per tracker: AUC (success score) and precision@20 averaged over the targets (OTB rules,
gdt_core.metrics.ope), frames/s (init included, as run_ope times it), updates/s (frames 2..N only:
tracking speed after init) and the mean init seconds, GFLOP per update (conv, linear and
matmul FLOPs, in-place ``addmm_``, oneDNN's linear and backward included, counted by torch's
FlopCounterMode in a separate untimed pass over the first --flop-frames frames) and the
achieved GFLOP/s (GFLOP per update x updates/s) as a fraction of the device's dense fp32
matmul rate, measured in the same run: before the first target and after each one (printed,
so a slow stretch of the VM shows; the fraction is of their median).
The network is the seeded random initialisation unless --weights.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from gdt_core.config import load_config
from gdt_core.data.otb import load_sequence, present_targets
from gdt_core.metrics.ope import mean_curves, score_sequence
from gdt_core.network.network import HAS_ONEDNN_LINEAR
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.trackers import make_tracker

DEFAULT_OTB = Path(__file__).resolve().parents[2] / "shared" / "data" / "otb"


class FirstFrames:
    """The first ``n`` frames of a sequence (a FrameSource)."""

    def __init__(self, seq, n: int | None) -> None:
        self._seq, self.name, self.attributes = seq, seq.name, getattr(seq, "attributes", ())
        self.ground_truth = seq.ground_truth[: n or len(seq)]

    def __len__(self) -> int:
        return len(self.ground_truth)

    def frame(self, index: int) -> np.ndarray:
        return self._seq.frame(index)


def matmul_gflops(device: str = "cpu", size: int = 2048, repeats: int = 5) -> float:
    """Dense fp32 matmul rate of ``device`` right now (GFLOP/s; torch's thread setting on the
    CPU, torch's default TF32 setting -- off for matmuls -- on CUDA)."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    repeats *= 20 if a.is_cuda else 1
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    return "CPU"


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _inplace_addmm_flop(self_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    """FLOPs of ``W.addmm_(A, B)``, which torch's FlopCounterMode does not count: the
    tracker's in-place GEMMs (fc6's written stage-2 steps, fc7's weight step)."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _onednn_linear_flop(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of oneDNN's ``mkldnn._linear_pointwise(x, W, b, ...)`` (fc6 on the CPU, see
    ``GDTNet.fc6_out``), which torch's FlopCounterMode does not count either."""
    return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * w_shape[0]


def update_gflop(name: str, cfg, weights, sequences, frames: int) -> float:
    """GFLOP per update (conv, linear and matmul FLOPs, in-place ``addmm_``, oneDNN's linear
    and backward included) counted by torch's FlopCounterMode over frames 2..``frames`` of
    each target; counted apart from the timed run because the counter's per-operator hook
    slows every call down."""
    total, updates = 0.0, 0
    uncounted = {torch.ops.aten.addmm_: _inplace_addmm_flop}
    if HAS_ONEDNN_LINEAR:
        uncounted[torch.ops.mkldnn._linear_pointwise] = _onednn_linear_flop
    for seq in sequences:
        tracker = make_tracker(name, cfg, weights)
        tracker.init(seq.frame(0), seq.ground_truth[0])
        n = min(frames, len(seq))
        with FlopCounterMode(display=False, custom_mapping=uncounted) as counter:
            for index in range(1, n):
                tracker.update(seq.frame(index))
        total += counter.get_total_flops() / 1e9
        updates += n - 1
    return total / max(updates, 1)


@dataclass
class Tally:
    """One tracker's scores and times, summed over the targets run so far."""

    label: str  # its row in the table
    name: str  # make_tracker's name
    cfg: object
    weights: str | None
    curves: list = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    init_seconds: float = 0.0

    def add(self, seq, boxes: np.ndarray, init_seconds: float, update_seconds: float) -> float:
        """Score one target's boxes, add up its times and print a line; returns updates/s."""
        self.curves.append(score_sequence(seq.ground_truth, boxes))
        self.frames += len(seq)
        self.seconds += init_seconds + update_seconds
        self.init_seconds += init_seconds
        fps = len(seq) / max(init_seconds + update_seconds, 1e-9)
        updates = (len(seq) - 1) / max(update_seconds, 1e-9)
        print(
            f"  {self.label:<10} {seq.name:<10} AUC {self.curves[-1].auc:.3f}"
            f"  {fps:6.2f} fps  {updates:6.2f} updates/s  init {init_seconds:.1f} s",
            flush=True,
        )
        return updates

    def summary(self, sequences, flop_frames: int) -> dict:
        mean = mean_curves(self.curves)
        n = len(self.curves)
        update_fps = (self.frames - n) / max(self.seconds - self.init_seconds, 1e-9)
        gflop = update_gflop(self.name, self.cfg, self.weights, sequences, flop_frames)
        return {
            "auc": mean.auc,
            "precision": mean.precision_score,
            "fps": self.frames / self.seconds,
            "update_fps": update_fps,
            "init_s": self.init_seconds / n,
            "frames": self.frames,
            "gflop_per_update": gflop,
            "gflops": gflop * update_fps,
        }


def run_in_turns(tallies: dict[str, Tally], seq) -> dict[str, float]:
    """One-pass evaluation of every tracker on ``seq`` in lockstep: each frame is read once and
    given to each tracker in turn, every ``init``/``update`` timed alone (image decoding not
    timed, as in :func:`~gdt_core.tracking.interface.run_ope`). A drift of this machine's speed
    (seen: matmul 126 -> 89 GFLOP/s within one run, and 105 -> 176) then weighs on every tracker
    alike, frame by frame. Returns each tracker's updates/s on ``seq``."""
    trackers = {label: make_tracker(t.name, t.cfg, t.weights) for label, t in tallies.items()}
    n, first = len(seq), tuple(np.asarray(seq.ground_truth[0], dtype=np.float64))
    boxes = {label: np.tile(first, (n, 1)) for label in trackers}
    init, spent = dict.fromkeys(trackers, 0.0), dict.fromkeys(trackers, 0.0)
    image = seq.frame(0)
    for label, tracker in trackers.items():
        start = time.perf_counter()
        tracker.init(image, first)
        init[label] = time.perf_counter() - start
    for index in range(1, n):
        image = seq.frame(index)
        for label, tracker in trackers.items():
            start = time.perf_counter()
            boxes[label][index] = tracker.update(image)[0]
            spent[label] += time.perf_counter() - start
    return {
        label: tally.add(seq, boxes[label], init[label], spent[label])
        for label, tally in tallies.items()
    }


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--otb-root``, ``--targets`` (default: every target present there) and
    ``--max-frames``: what the tracker benches run on."""
    parser.add_argument("--otb-root", default=str(DEFAULT_OTB))
    parser.add_argument("--targets", default="all", help="'all' (present in --otb-root) or A,B")
    parser.add_argument("--max-frames", type=int, default=None, help="first N frames per target")


def target_names(args: argparse.Namespace) -> list[str]:
    """The targets of ``--targets``: every one present in ``--otb-root`` for ``all``."""
    if args.targets == "all":
        names = present_targets(args.otb_root)
        if not names:
            raise SystemExit(f"{args.otb_root}: no OTB target found (see datasets/otb/README.md)")
        return names
    return [name for name in args.targets.split(",") if name]


def tracker_arguments(doc: str, paths: str) -> argparse.ArgumentParser:
    """The options both tracker benches take: targets, frames, GDT paths, baseline, weights,
    ``--set``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--paths", default=paths, help="GDT candidate-feature paths")
    parser.add_argument("--baseline", default="csrt", help="OpenCV tracker beside GDT ('' = none)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    return parser


def main() -> None:
    parser = tracker_arguments(__doc__, "crop,pooled")
    parser.add_argument(
        "--flop-frames", type=int, default=6, help="frames per target in the FLOP count"
    )
    parser.add_argument(
        "--warmup-frames", type=int, default=10, help="untimed frames of the first target"
    )
    args = parser.parse_args()

    cfg = load_config(overrides=[*args.overrides])
    sequences = [
        FirstFrames(load_sequence(args.otb_root, name), args.max_frames)
        for name in target_names(args)
    ]
    warmup = FirstFrames(sequences[0], args.warmup_frames)
    device = cfg.tracker.device
    peak = matmul_gflops(device)
    print(
        f"{len(sequences)} targets, {sum(len(s) for s in sequences)} frames; {_device_name(device)}"
        f"; torch threads {torch.get_num_threads()}; dense fp32 matmul {peak:.1f} GFLOP/s; "
        f"overrides {args.overrides}"
    )
    runs = [
        Tally(f"gdt-{path}", "gdt", cfg.replace({"tracker.candidate_features": path}), args.weights)
        for path in filter(None, args.paths.split(","))
    ]
    if args.baseline:
        runs.append(Tally(args.baseline, args.baseline, cfg, None))
    tallies = {tally.label: tally for tally in runs}
    for tally in tallies.values():  # untimed: lazy library and kernel set-up stays out
        run_ope(make_tracker(tally.name, tally.cfg, tally.weights), warmup)
    rates = [peak]
    for seq in sequences:
        updates = run_in_turns(tallies, seq)
        rates.append(matmul_gflops(device))
        ratio = ""
        if "gdt-crop" in updates and "gdt-pooled" in updates:
            ratio = f"pooled / crop {updates['gdt-pooled'] / updates['gdt-crop']:.1f}x updates/s; "
        print(f"  {seq.name}: {ratio}dense matmul now {rates[-1]:.1f} GFLOP/s", flush=True)
    rows = {name: t.summary(sequences, args.flop_frames) for name, t in tallies.items()}
    typical = float(np.median(rates))
    print(
        f"\ndense matmul rate: {peak:.1f} GFLOP/s before the targets; after each: "
        + ", ".join(f"{r:.0f}" for r in rates[1:])
        + f" (median of all {typical:.1f})"
    )
    print(
        f"{'tracker':<12} {'frames':>6} {'AUC':>6} {'prec@20':>8} {'fps':>7} {'upd fps':>7} "
        f"{'init s':>6} "
        f"{'GFLOP/upd':>9} {'GFLOP/s':>8} {'of matmul':>9}"
    )
    for name, r in rows.items():
        share = r["gflops"] / typical
        print(
            f"{name:<12} {r['frames']:>6} {r['auc']:>6.3f} {r['precision']:>8.3f} "
            f"{r['fps']:>7.2f} {r['update_fps']:>7.2f} {r['init_s']:>6.1f} "
            f"{r['gflop_per_update']:>9.2f} {r['gflops']:>8.1f} {share:>9.1%}"
        )
    if "gdt-crop" in rows and "gdt-pooled" in rows:
        c, p = rows["gdt-crop"], rows["gdt-pooled"]
        print(
            f"pooled / crop: {p['fps'] / c['fps']:.1f}x frames/s, "
            f"{p['update_fps'] / c['update_fps']:.1f}x updates/s, AUC {p['auc'] - c['auc']:+.3f}"
        )


if __name__ == "__main__":
    main()
