"""Runs as a table sorted by an objective (``gdt-flow compare``, the sweep's summary).

Rows come from :func:`mlflow.search_runs` (one row per run, ``params.*``/``metrics.*``/``tags.*``
columns). The columns shown besides the scores are the swept config keys: the parent's
``sweep.params`` when a sweep is given, otherwise the config keys whose values differ among
the runs listed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from gdt_core.config import DEFAULT_CONFIG, load_config

SCORES = ("auc", "precision", "fps")
PARENT_TAG = "tags.mlflow.parentRunId"


def search_runs(
    tracking_uri: str, experiment_ids: Sequence[str], parent_run_id: str | None = None
) -> pd.DataFrame:
    """All runs of the experiments (only the children of ``parent_run_id`` when given)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    where = f"tags.`mlflow.parentRunId` = '{parent_run_id}'" if parent_run_id else ""
    frame = mlflow.search_runs(
        experiment_ids=list(experiment_ids), filter_string=where, output_format="pandas"
    )
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def sort_by(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Runs with ``metric`` first, best first; runs without it (failed, parents) after."""
    column = f"metrics.{metric}"
    if column not in frame:
        return frame.reset_index(drop=True)
    ranked = frame.sort_values(column, ascending=False, na_position="last", kind="stable")
    return ranked.reset_index(drop=True)


def varying_config_keys(frame: pd.DataFrame) -> list[str]:
    """Config keys (``params.<section>.<key>``) whose values differ among the runs."""
    known = load_config(base=DEFAULT_CONFIG).flat()
    keys = []
    for key in known:
        column = f"params.{key}"
        if column in frame and frame[column].dropna().nunique() > 1:
            keys.append(key)
    return keys


def parse_param(text: Any) -> Any:
    """An MLflow param (a string) back to a number where it is one."""
    if not isinstance(text, str):
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def best_config(frame: pd.DataFrame, metric: str, keys: Sequence[str]) -> dict[str, Any] | None:
    """The swept values and scores of the best run (``None`` when no run has ``metric``)."""
    ranked = sort_by(frame, metric)
    column = f"metrics.{metric}"
    if ranked.empty or column not in ranked or pd.isna(ranked.loc[0, column]):
        return None
    row = ranked.loc[0]
    return {
        "run_id": row["run_id"],
        "run_name": row.get("tags.mlflow.runName"),
        "config": {k: parse_param(row.get(f"params.{k}")) for k in keys},
        "metrics": {
            m: float(row[f"metrics.{m}"])
            for m in SCORES
            if f"metrics.{m}" in row and not pd.isna(row[f"metrics.{m}"])
        },
    }


def _cell(value: Any, width: int = 40) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _param_cell(text: Any) -> str:
    value = parse_param(text)
    return f"{value:.6g}" if isinstance(value, float) else _cell(value)


def format_runs(frame: pd.DataFrame, metric: str, keys: Sequence[str]) -> str:
    """A fixed-width text table: run name, id, status, scores (objective first), swept keys."""
    ranked = sort_by(frame, metric)
    scores = [metric] + [m for m in SCORES if m != metric]
    header = ["run", "run_id", "status", *scores, *keys]
    rows = [header]
    for _, row in ranked.iterrows():
        rows.append(
            [
                _cell(row.get("tags.mlflow.runName")),
                str(row["run_id"])[:12],
                _cell(row.get("status")),
                *(_cell(row.get(f"metrics.{m}")) for m in scores),
                *(_param_cell(row.get(f"params.{k}")) for k in keys),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_best(best: dict[str, Any], metric: str) -> str:
    """The best run's score and its swept values as ``--set`` options."""
    lines = [
        f"best {metric} = {best['metrics'][metric]:.4f}: {best['run_name']} ({best['run_id']})"
    ]
    lines += [f"  --set {key}={value}" for key, value in best["config"].items()]
    return "\n".join(lines)
