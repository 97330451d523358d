"""LaSOT and GOT-10k behind one set of functions: names, loading, result files and scores.

What the evaluation (``gdt-flow evaluate --dataset``) and ``gdt-flow report`` need of a data
set other than OTB (whose table-driven reader and OPE are :mod:`gdt_core.data.otb` and
:mod:`gdt_core.metrics.ope`). Result files are written where and as each benchmark's tools write
them: LaSOT ``<Label>/<seq>.txt`` (1-based ``x,y,w,h``, as its ground truth), GOT-10k
``<Label>/<seq>/<seq>_001.txt`` (boxes as its ground truth writes them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdt_core.boxes import to_otb_file
from gdt_core.data.box_file import box_file_text, read_box_file
from gdt_core.data.got10k import (
    GOT10kDataError,
    GOT10kSequence,
    got10k_sequence_names,
    load_got10k_sequence,
    split_dir,
)
from gdt_core.data.lasot import (
    LaSOTDataError,
    LaSOTSequence,
    lasot_sequence_names,
    load_lasot_sequence,
    sequence_dir,
)
from gdt_core.metrics.got10k_scores import got10k_ious, got10k_scores
from gdt_core.metrics.lasot_scores import LaSOTCurves, mean_lasot_curves, score_lasot_sequence
from gdt_core.metrics.otb_results import read_result as read_otb_result

DATASETS = ("lasot", "got10k")
METRICS = {
    "lasot": ("auc", "precision", "norm_precision"),
    "got10k": ("ao", "sr50", "sr75"),
}
"""Each data set's scores, in the order its papers report them (the first ranks)."""
HEADINGS = {
    "auc": "AUC",
    "precision": "P@20",
    "norm_precision": "P_norm",
    "ao": "AO",
    "sr50": "SR@0.5",
    "sr75": "SR@0.75",
}
"""Table headings of the scores (OTB's and LaSOT's ``auc``/``precision`` included)."""

Video = LaSOTSequence | GOT10kSequence
DataError = (LaSOTDataError, GOT10kDataError)


def _check(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r} (one of {', '.join(DATASETS)})")


def sequence_names(dataset: str, root: str | Path, split: str, spec: str) -> list[str]:
    """``spec`` = ``all`` (every video under ``root``) or comma-separated names."""
    _check(dataset)
    if spec != "all":
        return [n.strip() for n in spec.split(",") if n.strip()]
    if dataset == "lasot":
        return lasot_sequence_names(root)
    return got10k_sequence_names(root, split)


def missing_sequences(dataset: str, root: str | Path, split: str, names: list[str]) -> list[str]:
    """The ``names`` with no folder under ``root`` (a partial copy)."""
    _check(dataset)
    missing = []
    for name in names:
        try:
            if dataset == "lasot":
                sequence_dir(root, name)
            elif not (split_dir(root, split) / name).is_dir():
                missing.append(name)
        except LaSOTDataError:
            missing.append(name)
    return missing


def load_video(dataset: str, root: str | Path, split: str, name: str) -> Video:
    _check(dataset)
    if dataset == "lasot":
        return load_lasot_sequence(root, name)
    return load_got10k_sequence(root, split, name)


def result_relpath(dataset: str, label: str, name: str) -> str:
    """Where the benchmark's tools put a tracker's result, relative to the results folder."""
    _check(dataset)
    return f"{label}/{name}.txt" if dataset == "lasot" else f"{label}/{name}/{name}_001.txt"


def result_text(dataset: str, boxes: np.ndarray) -> str:
    """0-based boxes as the benchmark's result file holds them."""
    _check(dataset)
    return box_file_text(to_otb_file(boxes) if dataset == "lasot" else boxes)


def read_result(dataset: str, path: str | Path) -> np.ndarray:
    """A result file as 0-based boxes (LaSOT's are OTB's result files)."""
    _check(dataset)
    return read_otb_result(path) if dataset == "lasot" else read_box_file(path)


def _lasot_numbers(c: LaSOTCurves) -> dict[str, float]:
    return {"auc": c.auc, "precision": c.precision_score, "norm_precision": c.norm_precision_score}


def _got10k_numbers(ious: np.ndarray | list[np.ndarray]) -> dict[str, float]:
    s = got10k_scores(ious)
    return {"ao": s.ao, "sr50": s.sr50, "sr75": s.sr75}


def check_scorable(video: Video) -> np.ndarray:
    """The frames a video's scores count (its visibility labels); a ValueError for a video
    without them (GOT-10k's test split)."""
    visible = video.visible
    if visible is None:
        raise ValueError(
            f"{video.name}: no cover.label / absence.label and one ground-truth box (the test "
            "split): its results are scored by the GOT-10k server"
        )
    return visible


def _ious(video: Video, boxes: np.ndarray) -> np.ndarray:
    if not isinstance(video, GOT10kSequence):
        raise TypeError(f"{video.name}: GOT-10k's IoUs need a GOT-10k video")
    return got10k_ious(video.ground_truth, boxes, check_scorable(video), video.resolution)


def video_scores(dataset: str, video: Video, boxes: np.ndarray) -> dict[str, float]:
    """One video's scores (``METRICS[dataset]``) of 0-based result ``boxes``."""
    _check(dataset)
    if dataset == "lasot":
        return _lasot_numbers(
            score_lasot_sequence(video.ground_truth, boxes, check_scorable(video))
        )
    return _got10k_numbers(_ious(video, boxes))


def set_scores(
    dataset: str, videos: dict[str, Video], results: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The data set's scores and each video's: LaSOT the mean of the videos' curves, GOT-10k
    the IoUs pooled over every scored frame (as their toolkits)."""
    _check(dataset)
    if dataset == "lasot":
        curves = {
            n: score_lasot_sequence(v.ground_truth, results[n], check_scorable(v))
            for n, v in videos.items()
        }
        per = {n: _lasot_numbers(c) for n, c in curves.items()}
        return _lasot_numbers(mean_lasot_curves(list(curves.values()))), per
    ious = {n: _ious(v, results[n]) for n, v in videos.items()}
    return _got10k_numbers(list(ious.values())), {n: _got10k_numbers(i) for n, i in ious.items()}
