"""Success and precision plots drawn like the OTB benchmark's figures (matplotlib, Agg).

Legend entries are ranked by score and read ``Tracker [score]``: the AUC for success plots,
the precision at 20 px for precision plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gdt_core.metrics.ope import (  # noqa: E402
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    Curves,
    TrackerScores,
)

ATTRIBUTE_NAMES = {
    "IV": "illumination variation",
    "SV": "scale variation",
    "OCC": "occlusion",
    "DEF": "deformation",
    "MB": "motion blur",
    "FM": "fast motion",
    "IPR": "in-plane rotation",
    "OPR": "out-of-plane rotation",
    "OV": "out of view",
    "BC": "background clutter",
    "LR": "low resolution",
}
_STYLES = ("-", "--", "-.", ":")


def plot_curves(
    curves: Mapping[str, Curves],
    kind: str,
    title: str,
    path: str | Path,
    colours: Mapping[str, int] | None = None,
) -> Path:
    """One success (``kind="success"``) or precision plot of several trackers to ``path``.

    ``colours`` maps a tracker to a fixed colour/line-style index (default: its rank here).
    """
    if kind == "success":
        x, score = SUCCESS_THRESHOLDS, (lambda c: c.auc)
        values, xlabel, ylabel = (lambda c: c.success), "Overlap threshold", "Success rate"
    elif kind == "precision":
        x, score = PRECISION_THRESHOLDS, (lambda c: c.precision_score)
        values, xlabel, ylabel = (lambda c: c.precision), "Location error threshold", "Precision"
    else:
        raise ValueError(f"kind must be 'success' or 'precision', got {kind!r}")
    ranked = sorted(curves.items(), key=lambda item: score(item[1]), reverse=True)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    palette = plt.get_cmap("tab10")
    for rank, (name, c) in enumerate(ranked):
        index = colours[name] if colours and name in colours else rank
        ax.plot(
            x,
            values(c),
            _STYLES[index // 10 % len(_STYLES)],
            color=palette(index % 10),
            linewidth=2,
            label=f"{name} [{score(c):.3f}]",
        )
    ax.set(xlim=(x[0], x[-1]), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left" if kind == "success" else "lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_report(
    scores: Sequence[TrackerScores],
    out_dir: str | Path,
    attribute_counts: Mapping[str, int] | None = None,
) -> list[Path]:
    """Overall and per-attribute success and precision plots; returns the PNG paths.

    Files: ``success_overall.png``, ``precision_overall.png``, ``success_<ATTR>.png``, ...
    ``attribute_counts`` (targets per attribute) goes into the titles like the OTB figures.
    """
    out_dir = Path(out_dir)
    counts = attribute_counts or {}
    groups: dict[str, tuple[str, dict[str, Curves]]] = {
        "overall": ("", {s.tracker: s.overall for s in scores})
    }
    attributes = list(dict.fromkeys(a for s in scores for a in s.attributes))
    for attr in attributes:
        label = ATTRIBUTE_NAMES.get(attr, attr)
        suffix = f" - {label}" + (f" ({counts[attr]})" if attr in counts else "")
        groups[attr] = (
            suffix,
            {s.tracker: s.attributes[attr] for s in scores if attr in s.attributes},
        )
    colours = {s.tracker: i for i, s in enumerate(scores)}
    paths = []
    for key, (suffix, curves) in groups.items():
        for kind, title in (
            ("success", "Success plots of OPE"),
            ("precision", "Precision plots of OPE"),
        ):
            paths.append(
                plot_curves(curves, kind, title + suffix, out_dir / f"{kind}_{key}.png", colours)
            )
    return paths
