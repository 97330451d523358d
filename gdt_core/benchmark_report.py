"""Scoring folders of LaSOT and GOT-10k results: every tracker found, ranked, as a table
(``gdt-flow report --dataset lasot|got10k``; OTB's is :mod:`gdt_core.otb_report`).

Result layouts, as each benchmark's tools write them: LaSOT ``<results>/<Tracker>/<seq>.txt``
(``x,y,w,h`` per frame, 1-based like its ground truth); GOT-10k
``<results>/<Tracker>/<seq>/<seq>_001.txt`` (boxes as the ground truth writes them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdt_core.box_file import read_box_file
from gdt_core.got10k import load_got10k_sequence
from gdt_core.got10k_scores import got10k_ious, got10k_scores
from gdt_core.lasot import load_lasot_sequence
from gdt_core.lasot_scores import LaSOTCurves, mean_lasot_curves, score_lasot_sequence
from gdt_core.otb_results import read_result, result_path

METRICS = {
    "lasot": ("auc", "precision", "norm_precision"),
    "got10k": ("ao", "sr50", "sr75"),
}
"""Each data set's scores, in the order its papers report them."""


@dataclass(frozen=True)
class BenchmarkScores:
    """One tracker's scores on a LaSOT or GOT-10k set (``METRICS[dataset]``), overall and
    per video."""

    tracker: str
    dataset: str
    overall: dict[str, float]
    per_sequence: dict[str, dict[str, float]]

    def to_json(self) -> dict:
        return {"overall": self.overall, "per_sequence": self.per_sequence}


def got10k_result_path(results_dir: str | Path, tracker: str, sequence: str) -> Path:
    """GOT-10k toolkit's ``<results>/<tracker>/<seq>/<seq>_001.txt`` (the first repetition)."""
    return Path(results_dir) / tracker / sequence / f"{sequence}_001.txt"


def _score_folders(
    trackers: dict[str, Path],
    names: Sequence[str],
    path_of: Callable[[Path, str, str], Path],
    score: Callable[[str, dict[str, Path]], BenchmarkScores],
) -> tuple[list[BenchmarkScores], dict[str, list[str]]]:
    scores, skipped = [], {}
    for tracker, results_dir in trackers.items():
        paths = {name: path_of(results_dir, tracker, name) for name in names}
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            skipped[tracker] = missing
        else:
            scores.append(score(tracker, paths))
    first = METRICS[scores[0].dataset][0] if scores else ""
    scores.sort(key=lambda s: s.overall[first], reverse=True)
    return scores, skipped


def score_lasot_folders(
    trackers: dict[str, Path], root: str | Path, names: Sequence[str]
) -> tuple[list[BenchmarkScores], dict[str, list[str]]]:
    """LaSOT scores (:mod:`gdt_core.lasot_scores`) of every tracker with a result for each of
    ``names``, ranked by AUC; and the skipped trackers with their missing videos."""
    videos = {name: load_lasot_sequence(root, name) for name in names}

    def score(tracker: str, paths: dict[str, Path]) -> BenchmarkScores:
        curves = {
            n: score_lasot_sequence(v.ground_truth, read_result(paths[n]), v.visible)
            for n, v in videos.items()
        }

        def numbers(c: LaSOTCurves) -> dict[str, float]:
            return {
                "auc": c.auc,
                "precision": c.precision_score,
                "norm_precision": c.norm_precision_score,
            }

        every = mean_lasot_curves(list(curves.values()))
        return BenchmarkScores(
            tracker, "lasot", numbers(every), {n: numbers(c) for n, c in curves.items()}
        )

    return _score_folders(trackers, names, result_path, score)


def score_got10k_folders(
    trackers: dict[str, Path], root: str | Path, split: str, names: Sequence[str]
) -> tuple[list[BenchmarkScores], dict[str, list[str]]]:
    """GOT-10k scores (:mod:`gdt_core.got10k_scores`, IoUs pooled over every frame) of every
    tracker with a result for each of ``names``, ranked by AO; and the skipped ones."""
    videos = {name: load_got10k_sequence(root, split, name) for name in names}
    unlabelled = [n for n, v in videos.items() if v.visible is None]
    if unlabelled:
        raise ValueError(
            f"{unlabelled[0]}: no cover.label / absence.label and one ground-truth box (the "
            "test split): its results are scored by the GOT-10k server"
        )

    def score(tracker: str, paths: dict[str, Path]) -> BenchmarkScores:
        ious = {
            n: got10k_ious(v.ground_truth, read_box_file(paths[n]), v.visible, v.resolution)
            for n, v in videos.items()
        }

        def numbers(i: np.ndarray | list[np.ndarray]) -> dict[str, float]:
            s = got10k_scores(i)
            return {"ao": s.ao, "sr50": s.sr50, "sr75": s.sr75}

        per = {n: numbers(i) for n, i in ious.items()}
        return BenchmarkScores(tracker, "got10k", numbers(list(ious.values())), per)

    return _score_folders(trackers, names, got10k_result_path, score)


def format_benchmark_scores(scores: Sequence[BenchmarkScores]) -> str:
    """The ranked table: one row per tracker, the data set's scores as columns."""
    if not scores:
        return ""
    metrics = METRICS[scores[0].dataset]
    width = max(len("tracker"), *(len(s.tracker) for s in scores))
    lines = [f"{'tracker':<{width}}  " + "  ".join(f"{m:>14}" for m in metrics)]
    for s in scores:
        lines.append(
            f"{s.tracker:<{width}}  " + "  ".join(f"{s.overall[m]:>14.3f}" for m in metrics)
        )
    return "\n".join(lines)
