"""Scores, table and plots of one evaluation directory (``report.json``, ``targets.csv``, plots).

The scores are the OTB benchmark's (:mod:`gdt_core.metrics.ope`) over the targets that finished;
published results given with ``--compare-with`` are scored on the same targets and drawn in
the same plots. ``report.json`` has the per-tracker schema of ``gdt-flow report`` plus ``fps``
(mean of the targets' frames/s) and, once logged, ``mlflow_run_id``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from gdt_core.data.otb import load_ground_truth, sequence_table
from gdt_core.files import write_text_atomic
from gdt_core.metrics import benchmarks
from gdt_core.metrics.ope import TrackerScores, score_tracker
from gdt_core.metrics.ope_plots import plot_report
from gdt_core.metrics.otb_results import find_trackers, read_result, result_path
from workflows.evaluate.evaluation import TargetRecord, read_manifest, read_record

REPORT_JSON = "report.json"
TARGETS_CSV = "targets.csv"
PLOTS_DIR = "plots"


def _records(run_dir: Path, manifest: dict[str, Any]) -> dict[str, TargetRecord | None]:
    return {s: read_record(run_dir, manifest["keys"][s]) for s in manifest["sequences"]}


def _compare_trackers(
    dirs: list[str], own: str, sequences: list[str], warn
) -> dict[str, dict[str, Any]]:
    """Published results under ``dirs`` that cover every scored target (others are skipped)."""
    found: dict[str, dict[str, Any]] = {}
    for folder in dirs:
        for tracker in find_trackers(folder):
            if tracker == own or tracker in found:
                continue
            paths = {s: result_path(folder, tracker, s) for s in sequences}
            absent = [s for s, p in paths.items() if not p.is_file()]
            if absent:
                warn(f"--compare-with {folder}: {tracker} has no result for {', '.join(absent)}")
                continue
            found[tracker] = {s: read_result(p) for s, p in paths.items()}
    return found


def _done(records: dict[str, TargetRecord | None]) -> list[str]:
    return [s for s, r in records.items() if r is not None and r.done]


def _truth(manifest: dict[str, Any], done: list[str]) -> tuple[dict, dict]:
    """The ground truth and the attributes of an OTB run's finished targets ``done``."""
    table = sequence_table(manifest.get("sequence_table"))
    truth = {
        s: load_ground_truth(table[s], manifest["otb_root"], manifest.get("anno_dir")) for s in done
    }
    return truth, {s: table[s].attributes for s in done}


def score_run(run_dir: str | Path, name: str | None = None) -> TrackerScores | None:
    """The OTB scores of the finished targets of ``run_dir`` (None if none finished)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    records = _records(run_dir, manifest)
    done = _done(records)
    if not done:
        return None
    truth, attributes = _truth(manifest, done)
    boxes = {s: read_result(run_dir / records[s].result_file) for s in done}
    return score_tracker(name or manifest["label"], truth, boxes, attributes)


def summarize_run(
    run_dir: str | Path,
    compare_with: list[str] | None = None,
    warn=print,
    attribute_plots: bool = True,
) -> dict[str, Any]:
    """Score ``run_dir`` (and published results), write ``report.json``, the table and plots.

    ``attribute_plots=False`` draws only the overall success and precision plots.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    label = manifest["label"]
    compare_with = (
        list(manifest.get("compare_with") or []) if compare_with is None else compare_with
    )
    records = _records(run_dir, manifest)
    done = _done(records)
    failed = {
        s: (r.error if r is not None else "not run (the evaluation was interrupted)")
        for s, r in records.items()
        if s not in done
    }
    summary: dict[str, Any] = {
        "trackers": {},
        "sequences": done,
        "failed": failed,
        "failed_tracebacks": {s: r.traceback for s, r in records.items() if r and r.traceback},
        "missing": manifest.get("missing", []),
        "run_dir": str(run_dir.resolve()),
        "mlflow_run_id": None,
        **_span(records),
    }
    dataset = manifest.get("dataset", "otb")
    summary["dataset"], summary["metrics"] = dataset, list(metric_names(dataset))
    if done and dataset != "otb":
        if compare_with:
            warn(f"--compare-with draws OTB results only; not used for {dataset}")
        summary["trackers"] = {label: _other_scores(run_dir, manifest, records, done)}
    elif done:
        truth, attributes = _truth(manifest, done)
        results = {label: {s: read_result(run_dir / records[s].result_file) for s in done}}
        results.update(_compare_trackers(compare_with, label, done, warn))
        scores = [score_tracker(t, truth, boxes, attributes) for t, boxes in results.items()]
        summary["trackers"] = {s.tracker: s.to_json() for s in scores}
        own = summary["trackers"][label]
        own["fps"] = sum(records[s].fps for s in done) / len(done)
        for s in done:
            own["sequences"][s].update(fps=records[s].fps, frames=records[s].frames)
        counts = Counter(a for s in done for a in attributes[s])
        if not attribute_plots:
            scores = [replace(score, attributes={}) for score in scores]
        plot_report(scores, run_dir / PLOTS_DIR, attribute_counts=counts)
    write_text_atomic(run_dir / TARGETS_CSV, _targets_csv(summary, records, label))
    write_summary(run_dir, summary)
    return summary


def metric_names(dataset: str) -> tuple[str, ...]:
    """The scores a run on ``dataset`` reports (OTB: AUC and precision at 20 px)."""
    return ("auc", "precision") if dataset == "otb" else benchmarks.METRICS[dataset]


def _other_scores(
    run_dir: Path, manifest: dict[str, Any], records: dict, done: list[str]
) -> dict[str, Any]:
    """A LaSOT / GOT-10k run's scores as its toolkit computes them, overall and per video,
    with the frames/s of each."""
    dataset, root, split = manifest["dataset"], manifest["otb_root"], manifest.get("split")
    videos = {s: benchmarks.load_video(dataset, root, split, s) for s in done}
    results = {s: benchmarks.read_result(dataset, run_dir / records[s].result_file) for s in done}
    overall, per = benchmarks.set_scores(dataset, videos, results)
    for s in done:
        per[s].update(fps=records[s].fps, frames=records[s].frames)
    return {**overall, "fps": sum(records[s].fps for s in done) / len(done), "sequences": per}


def _span(records: dict[str, Any]) -> dict[str, int]:
    """When the evaluation's targets began and ended (Unix ms; absent for old records)."""
    starts = [r.started_ms for r in records.values() if r is not None and r.started_ms]
    ends = [r.finished_ms for r in records.values() if r is not None and r.finished_ms]
    return {"started_ms": min(starts), "finished_ms": max(ends)} if starts and ends else {}


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> None:
    write_text_atomic(Path(run_dir) / REPORT_JSON, json.dumps(summary, indent=1))


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / REPORT_JSON).read_text())


def _targets_csv(summary: dict[str, Any], records: dict, label: str) -> str:
    """One row per target: status, frames, fps, the scores of every tracker, the error."""
    metrics = summary["metrics"]
    others = [t for t in summary["trackers"] if t != label]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["sequence", "status", "frames", "fps", *metrics]
        + [f"{t} {m}" for t in others for m in metrics]
        + ["error"]
    )
    for seq, record in records.items():
        scores = {t: summary["trackers"][t]["sequences"].get(seq, {}) for t in summary["trackers"]}
        row = [
            seq,
            record.status if record else "not run",
            record.frames if record else 0,
            _fmt(record.fps if record and record.done else math.nan),
        ]
        for t in [label, *others]:
            row += [_fmt(scores.get(t, {}).get(m, math.nan)) for m in metrics]
        writer.writerow(row + [summary["failed"].get(seq, "")])
    return out.getvalue()


def _fmt(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def format_table(summary: dict[str, Any]) -> str:
    """Trackers ranked by the data set's first score (OTB: AUC, P@20) and (for the evaluated
    one) frames/s."""
    metrics = summary.get("metrics", ["auc", "precision"])
    heads = benchmarks.HEADINGS
    rows = sorted(summary["trackers"].items(), key=lambda kv: -kv[1][metrics[0]])
    width = max(6, *(len(heads.get(m, m)) for m in metrics))
    head = " ".join(f"{heads.get(m, m):>{width}}" for m in metrics)
    lines = [f"{'tracker':<16} {head} {'fps':>8}"]
    for name, s in rows:
        fps = f"{s['fps']:8.1f}" if "fps" in s else f"{'':>8}"
        values = " ".join(f"{s[m]:{width}.3f}" for m in metrics)
        lines.append(f"{name:<16} {values} {fps}")
    return "\n".join(lines)
