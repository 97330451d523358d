"""Tracking quality: GDT (ImageNet weights, default config) beside OpenCV CSRT on real OTB.

    python -m bench.bench_quality [--paths pooled] [--baseline csrt] [--weights FILE]
                                  [--targets A,B] [--max-frames N] [--set key=value ...]
    python -m bench.bench_quality --paths crop,pooled          # both candidate paths
    python -m bench.bench_quality --also-weights phase1=models:/gdt-objectness@latest-pretrain \
        --tracking-uri sqlite:////data/gdt/mlflow.db            # phase 1's effect (issue 19)

All trackers run in this one process on every frame of the shared targets
(``../shared/data/otb``), one after the other per target, and are scored by the OTB rules
(:mod:`gdt_core.metrics.ope`). Prints, per target and overall, AUC (success score), precision@20 and
frames/s (init included), then the AUC per OTB attribute (from the sequence table: targets
carrying it / AUC per tracker). The weights default to the cache of ``gdt-flow weights
fetch``, else ``../shared/weights/alexnet-imagenet-conv.pth``; ``--also-weights LABEL=SPEC``
(repeatable; a file, ``runs:/`` or ``models:/`` URI) adds GDT on the first path with other
weights, e.g. after phase 1, in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.bench_tracker import DEFAULT_OTB, FirstFrames, tracker_arguments
from gdt_core.config import load_config
from gdt_core.data.otb import ATTRIBUTES, load_sequence
from gdt_core.metrics.ope import score_tracker
from gdt_core.tracking.interface import run_ope
from gdt_core.tracking.trackers import make_tracker
from workflows.pretrain.weights import resolve_weights
from workflows.pretrain.weights_fetch import cached_weights

SHARED_WEIGHTS = DEFAULT_OTB.parents[1] / "weights" / "alexnet-imagenet-conv.pth"


def default_weights() -> Path | None:
    """The fetched ImageNet weights, else the shared copy, else ``None`` (random network)."""
    return cached_weights() or (SHARED_WEIGHTS if SHARED_WEIGHTS.is_file() else None)


def main() -> None:
    parser = tracker_arguments(__doc__, "pooled")  # --weights: default_weights()
    parser.add_argument("--also-weights", action="append", default=[], metavar="LABEL=SPEC")
    parser.add_argument("--tracking-uri", help="MLflow store of runs:/ and models:/ weights")
    args = parser.parse_args()

    cfg = load_config(overrides=args.overrides)
    weights = args.weights or default_weights()
    paths = [p for p in args.paths.split(",") if p]
    trackers = {
        f"gdt-{path}": ("gdt", cfg.replace({"tracker.candidate_features": path}), weights)
        for path in paths
    }
    for item in args.also_weights:
        label, _, spec = item.partition("=")
        local = resolve_weights(spec, args.tracking_uri)
        trackers[f"gdt-{label}"] = trackers[f"gdt-{paths[0]}"][:2] + (local,)
    if args.baseline:
        trackers[args.baseline] = (args.baseline, cfg, None)
    sequences = [
        FirstFrames(load_sequence(args.otb_root, name), args.max_frames)
        for name in args.targets.split(",")
    ]
    print(
        f"{len(sequences)} targets, {sum(len(s) for s in sequences)} frames; weights {weights}; "
        f"overrides {args.overrides}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    boxes: dict[str, dict[str, object]] = {label: {} for label in trackers}
    fps: dict[str, dict[str, float]] = {label: {} for label in trackers}
    for seq in sequences:
        for label, (name, tcfg, tweights) in trackers.items():
            result = run_ope(make_tracker(name, tcfg, tweights), seq)
            boxes[label][seq.name], fps[label][seq.name] = result.boxes, result.fps
        print(f"  {seq.name}: " + ", ".join(f"{k} {v[seq.name]:.1f} fps" for k, v in fps.items()))
    truth = {seq.name: seq.ground_truth for seq in sequences}
    attributes = {seq.name: seq.attributes for seq in sequences}
    scores = {label: score_tracker(label, truth, boxes[label], attributes) for label in trackers}
    labels = list(trackers)
    print("\n" + f"{'target':<11}" + "".join(f"{k:>26}" for k in labels))
    print(f"{'':<11}" + f"{'AUC  P@20   fps':>26}" * len(labels))
    for seq in sequences:
        cells = [
            f"{scores[k].sequences[seq.name].auc:.3f} "
            f"{scores[k].sequences[seq.name].precision_score:.3f} {fps[k][seq.name]:6.1f}"
            for k in labels
        ]
        print(f"{seq.name:<11}" + "".join(f"{c:>26}" for c in cells))
    total = {
        k: sum(len(s) for s in sequences) / sum(len(s) / fps[k][s.name] for s in sequences)
        for k in labels
    }
    cells = [
        f"{scores[k].overall.auc:.3f} {scores[k].overall.precision_score:.3f} {total[k]:6.1f}"
        for k in labels
    ]
    print(f"{'overall':<11}" + "".join(f"{c:>26}" for c in cells))
    print("\nAUC per attribute (targets carrying it)")
    print(f"{'attribute':<11}{'targets':>8}" + "".join(f"{k:>12}" for k in labels))
    for attr in ATTRIBUTES:
        if attr in scores[labels[0]].attributes:
            n = sum(attr in a for a in attributes.values())
            cells = "".join(f"{scores[k].attributes[attr].auc:>12.3f}" for k in labels)
            print(f"{attr:<11}{n:>8}{cells}")


if __name__ == "__main__":
    main()
