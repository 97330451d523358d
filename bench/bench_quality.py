"""Tracking quality: GDT beside OpenCV CSRT and the published trackers on every real OTB target.

    python -m bench.bench_quality [--seeds 0,1,2] [--processes 2] [--json FILE]
                                  [--targets all|A,B] [--max-frames N] [--set key=value ...]
    python -m bench.bench_quality --also-weights phase1=models:/gdt-objectness@latest-pretrain \
        --tracking-uri sqlite:////data/gdt/mlflow.db     # GDT with other weights, same run

Runs every target present in ``--otb-root`` (default ``../shared/data/otb``; the sequence
table says which folder and ground-truth file each target needs) on every frame: GDT (the
default config, the ImageNet weights, once per seed in ``--seeds``; ``--also-weights
LABEL=SPEC`` adds GDT with other weights, e.g. after phase 1), the ``--baseline`` OpenCV
tracker (CSRT; deterministic, run once), each in ``--processes`` worker processes sharing
the CPU's threads. The published per-frame results in ``--published`` (default
``../shared/data/otb-results``: Struck, KCF, TLD, MEEM, DSST, CSK, OAB, CFWLB) are scored on
the same frames. Scores are the benchmark's (:mod:`gdt_core.metrics.ope`): per target, per
OTB attribute and overall AUC / precision@20, each the mean over seeds with its spread
(population standard deviation, and the range of the overall AUC), and frames/s (init
included, per tracker over all its frames). ``--json FILE`` writes everything, per seed;
``--markdown FILE`` the tables as the docs show them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench.bench_tracker import DEFAULT_OTB, FirstFrames, add_target_arguments, target_names
from gdt_core.config import Config, load_config
from gdt_core.data.otb import ATTRIBUTES, load_sequence
from gdt_core.metrics.ope import TrackerScores, score_sequence, score_tracker
from gdt_core.metrics.otb_results import read_result, result_path
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.trackers import make_tracker

SHARED_WEIGHTS = DEFAULT_OTB.parents[1] / "weights" / "alexnet-imagenet-conv.pth"
DEFAULT_PUBLISHED = DEFAULT_OTB.parent / "otb-results"
PUBLISHED = ("Struck", "KCF", "TLD", "MEEM", "DSST", "CSK", "OAB", "CFWLB")


def default_weights() -> Path | None:
    """The fetched ImageNet weights, else the shared copy, else ``None`` (random network)."""
    from gdt_core.network.weights_cache import cached_weights

    return cached_weights() or (SHARED_WEIGHTS if SHARED_WEIGHTS.is_file() else None)


@dataclass(frozen=True)
class Job:
    """One tracker on one target at one seed (a worker process runs it)."""

    label: str
    tracker: str  # make_tracker's name
    cfg: Config
    weights: str | None
    seed: int
    otb_root: str
    target: str
    max_frames: int | None
    threads: int


def run_job(job: Job) -> tuple[np.ndarray, float]:
    """Track ``job.target``: its boxes and the seconds spent tracking (decoding excluded)."""
    import torch

    torch.set_num_threads(job.threads)
    seq = FirstFrames(load_sequence(job.otb_root, job.target), job.max_frames)
    result = run_ope(make_tracker(job.tracker, job.cfg, job.weights), seq)
    return result.boxes, result.seconds


def published_boxes(
    folder: Path, trackers: Sequence[str], truth: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """The published trackers' boxes on the same frames (each file's first rows). A file
    shorter than its target (CFWLB's David has 467 of 471 lines) is padded with NaN rows,
    failures by the benchmark's rules, and said so; a tracker without a file for every target
    is left out, said so too."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for tracker in trackers:
        paths = {name: result_path(folder, tracker, name) for name in truth}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            print(f"{missing[0]}: not found ({len(missing)} missing): {tracker} left out")
            continue
        found[tracker] = {}
        for name, gt in truth.items():
            rows = read_result(paths[name])[: len(gt)]
            if len(rows) < len(gt):
                print(f"{paths[name]}: {len(rows)} boxes for {len(gt)} frames, the rest failed")
                rows = np.concatenate([rows, np.full((len(gt) - len(rows), 4), np.nan)])
            found[tracker][name] = rows
    return found


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def summarise(per_seed: dict[int, TrackerScores], frames: int, seconds: dict[int, float]) -> dict:
    """One tracker over its seeds: the per-seed scores and their mean and spread."""
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]

    def stat(get) -> dict[str, float]:
        auc = [get(per_seed[s]).auc for s in seeds]
        prec = [get(per_seed[s]).precision_score for s in seeds]
        (auc_m, auc_s), (prec_m, prec_s) = _mean_std(auc), _mean_std(prec)
        return {"auc": auc_m, "auc_std": auc_s, "precision": prec_m, "precision_std": prec_s}

    overall = stat(lambda s: s.overall)
    overall["auc_min"] = min(per_seed[s].overall.auc for s in seeds)
    overall["auc_max"] = max(per_seed[s].overall.auc for s in seeds)
    return {
        **overall,
        "fps": frames * len(seeds) / sum(seconds.values()) if seconds else None,
        "sequences": {n: stat(lambda s, n=n: s.sequences[n]) for n in first.sequences},
        "attributes": {a: stat(lambda s, a=a: s.attributes[a]) for a in first.attributes},
        "seeds": {str(s): per_seed[s].to_json() for s in seeds},
    }


def _cell(entry: dict, spread: bool) -> str:
    text = f"{entry['auc']:.3f}"
    return text + (f"±{entry['auc_std']:.3f}" if spread else "") + f" {entry['precision']:.3f}"


def print_tables(report: dict) -> None:
    """Per target, overall (with frames/s) and per attribute, one column per tracker."""
    trackers = report["trackers"]
    labels = list(trackers)
    spread = {k: len(v["seeds"]) > 1 for k, v in trackers.items()}
    width = {k: 19 if spread[k] else 12 for k in labels}
    print("\nAUC (± std over seeds) and P@20, per target")
    print(f"{'target':<13}{'frames':>7}" + "".join(f"{k:>{width[k] + 1}}" for k in labels))
    for name, frames in report["frames"].items():
        cells = "".join(
            f"{_cell(trackers[k]['sequences'][name], spread[k]):>{width[k] + 1}}" for k in labels
        )
        print(f"{name:<13}{frames:>7}{cells}")
    total = sum(report["frames"].values())
    cells = "".join(f"{_cell(trackers[k], spread[k]):>{width[k] + 1}}" for k in labels)
    print(f"{'overall':<13}{total:>7}{cells}")
    rates = [f"{trackers[k]['fps']:.1f}" if trackers[k]["fps"] else "-" for k in labels]
    print(
        f"{'frames/s':<20}"
        + "".join(f"{r:>{width[k] + 1}}" for r, k in zip(rates, labels, strict=True))
    )
    for k in labels:
        if spread[k]:
            t = trackers[k]
            print(f"  {k}: AUC over seeds {t['auc_min']:.3f}..{t['auc_max']:.3f}")
    print("\nAUC per attribute (targets carrying it)")
    counts = report["attribute_targets"]
    print(f"{'attribute':<11}{'targets':>8}" + "".join(f"{k:>{width[k] + 1}}" for k in labels))
    for attr in ATTRIBUTES:
        if attr in counts:
            cells = "".join(
                f"{_cell(trackers[k]['attributes'][attr], spread[k]):>{width[k] + 1}}"
                for k in labels
            )
            print(f"{attr:<11}{counts[attr]:>8}{cells}")


def markdown_tables(report: dict) -> str:
    """The report's tables in Markdown (per target, overall with frames/s, per attribute),
    as the docs show them: AUC (± std over seeds) / P@20 per cell."""
    trackers = report["trackers"]
    labels = list(trackers)

    def cell(entry: dict, tracker: dict) -> str:
        spread = f" ± {entry['auc_std']:.3f}" if len(tracker["seeds"]) > 1 else ""
        return f"{entry['auc']:.3f}{spread} / {entry['precision']:.3f}"

    lines = ["| target | frames | " + " | ".join(labels) + " |"]
    lines.append("|---" * (len(labels) + 2) + "|")
    for name, frames in report["frames"].items():
        row = [cell(trackers[k]["sequences"][name], trackers[k]) for k in labels]
        lines.append(f"| {name} | {frames} | " + " | ".join(row) + " |")
    total = sum(report["frames"].values())
    row = [f"**{cell(trackers[k], trackers[k])}**" for k in labels]
    lines.append(f"| **all** | {total} | " + " | ".join(row) + " |")
    rates = [f"{trackers[k]['fps']:.1f}" if trackers[k]["fps"] else "published" for k in labels]
    lines.append("| frames/s | | " + " | ".join(rates) + " |")
    lines += ["", "| attribute | targets | " + " | ".join(labels) + " |"]
    lines.append("|---" * (len(labels) + 2) + "|")
    for attr, n in report["attribute_targets"].items():
        row = [cell(trackers[k]["attributes"][attr], trackers[k]) for k in labels]
        lines.append(f"| {attr} | {n} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--paths", default="pooled", help="GDT candidate-feature paths")
    parser.add_argument("--baseline", default="csrt", help="OpenCV tracker beside GDT ('' = none)")
    parser.add_argument("--weights", default=None, help="GDT's weights (default: ImageNet)")
    parser.add_argument("--also-weights", action="append", default=[], metavar="LABEL=SPEC")
    parser.add_argument("--tracking-uri", help="MLflow store of runs:/ and models:/ weights")
    parser.add_argument("--seeds", default="0", help="GDT seeds, e.g. 0,1,2")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--published", default=str(DEFAULT_PUBLISHED), help="'' = none")
    parser.add_argument("--json", dest="json_out", help="write the whole report here")
    parser.add_argument("--markdown", help="write the tables as Markdown here")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    from workflows.pretrain.weights import resolve_weights

    cfg = load_config(overrides=args.overrides)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    weights = str(args.weights or default_weights() or "") or None
    gdt = {
        f"gdt-{path}": (cfg.replace({"tracker.candidate_features": path}), weights)
        for path in filter(None, args.paths.split(","))
    }
    for item in args.also_weights:
        label, _, spec = item.partition("=")
        first_cfg = next(iter(gdt.values()))[0]
        gdt[f"gdt-{label}"] = (first_cfg, str(resolve_weights(spec, args.tracking_uri)))
    names = target_names(args)
    sequences = [FirstFrames(load_sequence(args.otb_root, n), args.max_frames) for n in names]
    threads = max(1, (os.cpu_count() or 1) // args.processes)
    common = dict(otb_root=args.otb_root, max_frames=args.max_frames, threads=threads)
    jobs = [
        Job(label, "gdt", c.replace({"seed": seed}), w, seed, target=s.name, **common)
        for label, (c, w) in gdt.items()
        for seed in seeds
        for s in sequences
    ]
    if args.baseline:
        jobs += [
            Job(args.baseline, args.baseline, cfg, None, 0, target=s.name, **common)
            for s in sequences
        ]
    length = {s.name: len(s) for s in sequences}
    jobs.sort(key=lambda j: -length[j.target])  # longest first: the processes end together
    print(
        f"{len(sequences)} targets, {sum(length.values())} frames, seeds {seeds}; weights "
        f"{weights}; {args.processes} processes x {threads} torch threads; overrides "
        f"{args.overrides}; {time.strftime('%Y-%m-%d %H:%M')}",
        flush=True,
    )
    truth = {s.name: s.ground_truth for s in sequences}
    start = time.perf_counter()
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            job, (b, sec) = futures[future], future.result()
            auc = score_sequence(truth[job.target], b).auc
            print(
                f"[{done}/{len(jobs)}] {job.label} seed {job.seed} {job.target}: AUC {auc:.3f}, "
                f"{len(b) / sec:.1f} frames/s ({(time.perf_counter() - start) / 60:.1f} min)",
                flush=True,
            )
        results = [f.result() for f in futures]  # in the order of jobs
    wall = time.perf_counter() - start
    attributes = {s.name: s.attributes for s in sequences}
    boxes: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    seconds: dict[str, dict[int, float]] = {}
    for job, (b, sec) in zip(jobs, results, strict=True):
        boxes.setdefault(job.label, {}).setdefault(job.seed, {})[job.target] = b
        seconds.setdefault(job.label, {}).setdefault(job.seed, 0.0)
        seconds[job.label][job.seed] += sec
    if args.published:
        for tracker, found in published_boxes(Path(args.published), PUBLISHED, truth).items():
            boxes[tracker] = {0: found}
    frames = sum(length.values())
    trackers = {
        label: summarise(
            {seed: score_tracker(label, truth, b, attributes) for seed, b in per_seed.items()},
            frames,
            seconds.get(label, {}),
        )
        for label, per_seed in boxes.items()
    }
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python -m bench.bench_quality", *(argv or sys.argv[1:])]),
        "otb_root": str(args.otb_root),
        "frames": length,
        "attribute_targets": {
            a: sum(a in attrs for attrs in attributes.values())
            for a in ATTRIBUTES
            if any(a in attrs for attrs in attributes.values())
        },
        "seeds": seeds,
        "weights": weights,
        "overrides": args.overrides,
        "processes": args.processes,
        "torch_threads": threads,
        "wall_seconds": wall,
        "trackers": trackers,
    }
    print_tables(report)
    print(f"\nwall time {wall / 60:.1f} min")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json_out}")
    if args.markdown:
        Path(args.markdown).write_text(markdown_tables(report))
        print(f"wrote {args.markdown}")
    return report


if __name__ == "__main__":
    main()
