"""The sweep's plot: the objective against each swept parameter (one PNG per parameter)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def _positions(values: Sequence[Any]) -> tuple[list[float], list[str] | None]:
    """Numeric values as they are; anything else as categories 0, 1, ... with labels."""
    try:
        return [float(v) for v in values], None
    except (TypeError, ValueError):
        labels = sorted({str(v) for v in values})
        return [float(labels.index(str(v))) for v in values], labels


def plot_objective(
    frame: pd.DataFrame, keys: Sequence[str], metric: str, out_dir: str | Path
) -> list[Path]:
    """``<out_dir>/<metric>_vs_<key>.png`` per swept key over the runs that have ``metric``.

    Each finished trial is a point (the best one ringed); with one swept key the points are
    joined in order of the parameter. Returns the files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workflows.runs.run_table import parse_param

    column = f"metrics.{metric}"
    done = frame[frame[column].notna()] if column in frame else frame.iloc[0:0]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key in keys:
        values = [parse_param(v) for v in done.get(f"params.{key}", pd.Series(dtype=object))]
        x, labels = _positions(values)
        y = [float(v) for v in done[column]] if len(done) else []
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
        if len(keys) == 1 and x:
            order = sorted(range(len(x)), key=x.__getitem__)
            ax.plot([x[i] for i in order], [y[i] for i in order], "-", color="0.7", zorder=1)
        ax.scatter(x, y, zorder=2)
        if y:
            best = max(range(len(y)), key=y.__getitem__)
            ax.scatter([x[best]], [y[best]], s=160, facecolors="none", edgecolors="r", zorder=3)
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {key} ({len(y)} trials)")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{metric}_vs_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
