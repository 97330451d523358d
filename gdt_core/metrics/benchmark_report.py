"""Scoring folders of LaSOT and GOT-10k results: every tracker found, ranked, as a table
(``gdt-flow report --dataset lasot|got10k``; OTB's is :mod:`gdt_core.metrics.otb_report`). Layouts
and scores: :mod:`gdt_core.metrics.benchmarks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gdt_core.metrics import benchmarks


@dataclass(frozen=True)
class BenchmarkScores:
    """One tracker's scores on a LaSOT or GOT-10k set (``benchmarks.METRICS[dataset]``),
    overall and per video."""

    tracker: str
    dataset: str
    overall: dict[str, float]
    per_sequence: dict[str, dict[str, float]]

    def to_json(self) -> dict:
        return {"overall": self.overall, "per_sequence": self.per_sequence}


def score_result_folders(
    dataset: str, trackers: dict[str, Path], root: str | Path, split: str, names: Sequence[str]
) -> tuple[list[BenchmarkScores], dict[str, list[str]]]:
    """Scores of every tracker with a result for each of ``names``, ranked by the data set's
    first score (AUC, AO); and the skipped trackers with their missing videos."""
    videos = {name: benchmarks.load_video(dataset, root, split, name) for name in names}
    for video in videos.values():
        benchmarks.check_scorable(video)
    scores, skipped = [], {}
    for tracker, results_dir in trackers.items():
        paths = {n: results_dir / benchmarks.result_relpath(dataset, tracker, n) for n in names}
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            skipped[tracker] = missing
            continue
        results = {n: benchmarks.read_result(dataset, p) for n, p in paths.items()}
        overall, per = benchmarks.set_scores(dataset, videos, results)
        scores.append(BenchmarkScores(tracker, dataset, overall, per))
    first = benchmarks.METRICS[dataset][0]
    scores.sort(key=lambda s: s.overall[first], reverse=True)
    return scores, skipped


def format_benchmark_scores(scores: Sequence[BenchmarkScores]) -> str:
    """The ranked table: one row per tracker, the data set's scores as columns."""
    if not scores:
        return ""
    metrics = benchmarks.METRICS[scores[0].dataset]
    width = max(len("tracker"), *(len(s.tracker) for s in scores))
    lines = [f"{'tracker':<{width}}  " + "  ".join(f"{benchmarks.HEADINGS[m]:>7}" for m in metrics)]
    for s in scores:
        lines.append(
            f"{s.tracker:<{width}}  " + "  ".join(f"{s.overall[m]:>7.3f}" for m in metrics)
        )
    return "\n".join(lines)
