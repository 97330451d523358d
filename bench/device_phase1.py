"""The phase-1 device check: the paper's phase 1 on a GPU, then tracking with and without it.

Here (once): ``python -m bench.device_pack`` writes ``.device/pack`` (photos, OTB folders,
ImageNet convolutions; under the device's 64 MiB). Then, as one device call with ``carry:
[".device"]``::

    PYTHONUNBUFFERED=1 python3 -m bench.device_phase1 --pack .device/pack --out $OUT

On the device (no Ray, no MLflow: ``gdt_core`` alone) it

1. builds ``phase1.num_patches`` objectness patches from the packed photos (one process per
   core; :mod:`gdt_core.phase1.patches`, the config's sampling);
2. trains phase 1 as the paper does: all layers from the ImageNet convolutions,
   ``phase1.iterations`` steps of ``phase1.batch_size`` (100k x 128), with the GPU path of
   :mod:`gdt_core.phase1.training` (patches resident on the GPU, bf16, compiled), logging
   every ``--log-every`` steps and scoring the held-out images every ``--eval-every``; it
   stops at ``--budget-s`` seconds of training if the schedule is not done by then, and says
   how far it got;
3. tracks every packed OTB target (default config, ``tracker.device`` = the device) with the
   ImageNet convolutions alone and with the phase-1 network, scored by the OTB rules;

and writes everything to ``<out>/device_phase1.json`` (the network itself, ~170 MB, stays
there: files over 16 MiB do not come back).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from bench.bench_tracker import FirstFrames
from gdt_core.config import Config, load_config
from gdt_core.data.det_sources import list_det_roots
from gdt_core.data.otb import load_sequence, present_targets
from gdt_core.metrics.ope import score_tracker
from gdt_core.network.network import build_network, load_pretrained, save_checkpoint
from gdt_core.phase1.patches import build_patch_set
from gdt_core.phase1.training import Phase1Training, speed_settings, training_pool
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.tracker import GDTTracker

WEIGHTS = "weights/alexnet-imagenet-conv.pth"  # in the pack


def patches_from(cfg: Config, roots: list[Path], out: Path, processes: int) -> dict[str, Any]:
    """The patch set of ``roots`` (shards in parallel processes), as ``build-patches`` would;
    its counts."""
    listing = list_det_roots(roots)
    with ProcessPoolExecutor(processes) as pool:
        manifest = build_patch_set(
            listing.entries, out, cfg, cfg.phase1.num_patches, 4 * processes, roots=roots,
            skipped=listing.skipped, map_shards=pool.map,
        )  # fmt: skip
    return manifest["counts"]


def train(
    cfg: Config, patches: Path, init: Path, device: torch.device, args: argparse.Namespace
) -> tuple[Phase1Training, dict[str, Any]]:
    """Phase 1 on ``device`` until the schedule or the time budget ends."""
    start = time.perf_counter()
    pool = training_pool(cfg, patches, device, split="train")
    try:
        held = training_pool(cfg, patches, device, split="heldout")
    except ValueError:  # no held-out image in a tiny set
        held = None
    loaded = time.perf_counter() - start
    net = load_pretrained(init, build_network(cfg.network, cfg.seed))
    training = Phase1Training(cfg, net, pool, device)
    curve: list[dict[str, float]] = []
    begin = time.perf_counter()
    deadline = begin + args.budget_s
    stopped_early = False
    for due in training.run():
        metrics = {"step": due.step, **training.window_metrics()}
        if due.evaluate:
            metrics.update(training.heldout_metrics(held))
        curve.append(metrics)
        print(", ".join(f"{k} {v:.4g}" for k, v in metrics.items()), flush=True)
        if not due.last and time.perf_counter() > deadline:
            stopped_early = True
            break
    seconds = time.perf_counter() - begin
    if stopped_early:
        curve.append({"step": training.step, **training.heldout_metrics(held)})
    data_start = time.perf_counter()
    for step in range(args.log_every):
        training.batch(step)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    data_s = (time.perf_counter() - data_start) / args.log_every
    steady = [m["patches_per_s"] for m in curve[1:] if "patches_per_s" in m] or [0.0]
    rate = sorted(steady)[len(steady) // 2]
    speed = speed_settings(cfg, device)
    return training, {
        "iterations_planned": cfg.phase1.iterations,
        "iterations_done": training.step,
        "stopped_at_budget": stopped_early,
        "budget_s": args.budget_s,
        "train_seconds": seconds,
        "pool_seconds": loaded,
        "pool": type(pool).__name__,
        "train_patches": len(pool),
        "heldout_patches": len(held) if held is not None else 0,
        "bf16": speed.bf16,
        "compile": speed.compile,
        "patches_per_s_median": rate,
        "data_share": data_s * rate / training.per_worker if rate else None,
        "paper_schedule_minutes": 100_000 * 128 / rate / 60 if rate else None,
        "curve": curve,
    }


def track(cfg: Config, otb: Path, weights: dict[str, Path], max_frames: int | None) -> dict:
    """Every OTB target of ``otb`` with each weights file: scores and frames/s."""
    names = present_targets(otb) if otb.is_dir() else []
    if not names:
        print(f"{otb}: no OTB target packed, nothing tracked", flush=True)
        return {}
    sequences = [load_sequence(otb, n) for n in names]
    out: dict[str, Any] = {}
    for label, path in weights.items():
        boxes, seconds, truth, attributes = {}, 0.0, {}, {}
        for seq in sequences:
            view = FirstFrames(seq, max_frames)
            result = run_ope(GDTTracker(cfg, weights=path), view)
            boxes[seq.name], truth[seq.name] = result.boxes, view.ground_truth
            attributes[seq.name] = seq.attributes
            seconds += result.seconds
        scores = score_tracker(label, truth, boxes, attributes).to_json()
        scores["fps"] = sum(len(b) for b in boxes.values()) / seconds
        out[label] = scores
        print(
            f"{label}: AUC {scores['auc']:.3f}, P@20 {scores['precision']:.3f}, "
            f"{scores['fps']:.1f} frames/s",
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", default=".device/pack")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--work", default="/tmp/gdt-phase1", help="patches and the network")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget-s", type=float, default=390.0, help="training stops by then")
    ap.add_argument("--log-every", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=10000)
    ap.add_argument("--max-frames", type=int, default=None, help="first N frames per target")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)
    cfg = load_config(overrides=args.overrides).replace(
        {
            "phase1.log_every": args.log_every,
            "phase1.eval_every": args.eval_every,
            "phase1.checkpoint_every": 10**9,  # nothing resumes here: one command, one run
            "tracker.device": device.type,
        }
    )
    pack, work, out = Path(args.pack), Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
        "torch": torch.__version__,
        "overrides": args.overrides,
        "pack": json.loads((pack / "pack.json").read_text())
        if (pack / "pack.json").is_file()
        else None,
    }
    start = time.perf_counter()
    roots = sorted(p for p in (pack / "det").iterdir() if p.is_dir())
    report["patches"] = patches_from(cfg, roots, work / "patches", args.processes)
    report["patches"]["seconds"] = time.perf_counter() - start
    print(f"patches: {report['patches']}", flush=True)
    init = pack / WEIGHTS
    training, report["phase1"] = train(cfg, work / "patches", init, device, args)
    trained = save_checkpoint(training.model.net, work / "phase1.pt", {"step": training.step})
    del training
    if device.type == "cuda":
        torch.cuda.empty_cache()
    weights = {"imagenet": init, "phase1": trained}
    report["tracking"] = track(cfg, pack / "otb", weights, args.max_frames)
    report["seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    (out / "device_phase1.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out / 'device_phase1.json'} after {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
