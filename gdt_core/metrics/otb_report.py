"""Scoring folders of OTB results: every tracker found, ranked, as a table (``gdt-flow report``).

Finds ``<results>/<Tracker>/<Seq>.txt`` folders (:mod:`gdt_core.metrics.otb_results`), scores each
tracker that has a result for every target with the benchmark's one-pass evaluation
(:func:`gdt_core.metrics.ope.score_tracker`), and formats the ranked table, overall and per
attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gdt_core.data.otb import ATTRIBUTES, OTBDataError, SequenceInfo, load_ground_truth
from gdt_core.metrics.ope import TrackerScores, score_tracker
from gdt_core.metrics.otb_results import find_trackers, read_result, result_path


def find_tracker_dirs(
    results_dirs: Sequence[str | Path], pattern: str = "*.txt"
) -> dict[str, Path]:
    """Tracker name -> the results folder holding ``<name>/`` (with a file matching
    ``pattern``); a name found twice is an :class:`~gdt_core.data.otb.OTBDataError`."""
    found: dict[str, Path] = {}
    for results_dir in results_dirs:
        for name in find_trackers(results_dir, pattern):
            if name in found:
                raise OTBDataError(
                    f"tracker {name!r} is in both {found[name]} and {results_dir}; "
                    "rename one folder"
                )
            found[name] = Path(results_dir)
    return found


def score_result_folders(
    trackers: dict[str, Path],
    infos: Sequence[SequenceInfo],
    otb_root: str | None,
    anno_dir: str | None,
) -> tuple[list[TrackerScores], dict[str, list[str]]]:
    """Scores of the trackers with a result for every target, ranked by AUC; and the skipped
    trackers with their missing targets."""
    ground_truths = {
        i.name: load_ground_truth(i, otb_root=otb_root, anno_dir=anno_dir) for i in infos
    }
    attributes = {i.name: i.attributes for i in infos}
    scores, skipped = [], {}
    for tracker, results_dir in trackers.items():
        paths = {i.name: result_path(results_dir, tracker, i.name) for i in infos}
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            skipped[tracker] = missing
            continue
        results = {name: read_result(path) for name, path in paths.items()}
        scores.append(score_tracker(tracker, ground_truths, results, attributes))
    scores.sort(key=lambda s: s.overall.auc, reverse=True)
    return scores, skipped


def attribute_counts(infos: Sequence[SequenceInfo]) -> dict[str, int]:
    """How many of the targets carry each attribute (attributes none carries left out)."""
    counts = {a: sum(a in i.attributes for i in infos) for a in ATTRIBUTES}
    return {a: n for a, n in counts.items() if n}


def format_scores(scores: Sequence[TrackerScores], counts: dict[str, int]) -> str:
    """The ranked table: AUC and precision@20 overall, then both per attribute."""
    attrs = [a for a in ATTRIBUTES if a in counts]
    width = max([len("Tracker")] + [len(s.tracker) for s in scores])
    lines = [f"{'#':>2}  {'Tracker':<{width}}  {'AUC':>6}  {'P@20':>6}"]
    for rank, s in enumerate(scores, start=1):
        lines.append(
            f"{rank:>2}  {s.tracker:<{width}}  {s.overall.auc:6.3f}  "
            f"{s.overall.precision_score:6.3f}"
        )
    for title, value in (
        ("AUC per attribute", lambda c: c.auc),
        ("Precision@20 per attribute", lambda c: c.precision_score),
    ):
        heads = [f"{a}({counts[a]})" for a in attrs]
        cell = max([6] + [len(h) for h in heads])
        lines += ["", title, f"{'Tracker':<{width}}  " + "  ".join(f"{h:>{cell}}" for h in heads)]
        for s in scores:
            cells = "  ".join(f"{value(s.attributes[a]):>{cell}.3f}" for a in attrs)
            lines.append(f"{s.tracker:<{width}}  {cells}")
    return "\n".join(lines)
