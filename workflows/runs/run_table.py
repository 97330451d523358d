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
STATUS_TAG = "tags.gdt.status"  # "stopped": a sweep trial its scheduler stopped early
STOPPED_AT_TAG = "tags.gdt.stopped_at"
# What a run's score depends on besides the config: runs are compared only when these match.
COMPARED_ON = {
    "tracker": "params.tracker",
    "weights": "params.weights",
    "targets": "params.sequences",
}


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


def without_sweep_parents(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs that scored something themselves: a sweep's parent (it carries
    ``sweep.params``) only summarises its children."""
    if "params.sweep.params" not in frame:
        return frame
    return frame[frame["params.sweep.params"].isna()].reset_index(drop=True)


def resolve_run_id(frame: pd.DataFrame, prefix: str) -> str:
    """The full id of the one run of ``frame`` whose id starts with ``prefix`` (the tables
    print 12 characters); a ``ValueError`` saying why otherwise."""
    ids = sorted({str(r) for r in frame.get("run_id", []) if str(r).startswith(prefix)})
    if len(ids) != 1:
        what = "no run" if not ids else f"{len(ids)} runs ({', '.join(i[:16] for i in ids)})"
        raise ValueError(f"run id '{prefix}': {what} with that prefix")
    return ids[0]


def stopped(frame: pd.DataFrame) -> pd.Series:
    """Which runs are sweep trials stopped early (their scores cover part of the targets)."""
    if STATUS_TAG not in frame:
        return pd.Series(False, index=frame.index)
    return frame[STATUS_TAG] == "stopped"


def stopped_summary(frame: pd.DataFrame) -> str:
    """``N trial(s) stopped early: a after k targets, ...`` ('' when none was)."""
    early = frame[stopped(frame)]
    if early.empty:
        return ""
    counts = early[STOPPED_AT_TAG].astype(int).value_counts().sort_index()
    rungs = ", ".join(f"{n} after {k} target{'s' * (k != 1)}" for k, n in counts.items())
    return (
        f"{len(early)} trial(s) stopped early by the scheduler: {rungs} (their scores are "
        "partial: shown, never the best)"
    )


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


def _group(row: pd.Series) -> tuple[str, ...]:
    return tuple(str(row.get(column, "-")) for column in COMPARED_ON.values())


def best_config(frame: pd.DataFrame, metric: str, keys: Sequence[str]) -> dict[str, Any] | None:
    """The swept values and scores of the best run among comparable ones, or ``None``.

    Only runs that scored ``metric`` on all their targets (not trials stopped early) and
    carry every key compete, and only within one group of equal tracker, weights and
    targets (:data:`COMPARED_ON`; a CSRT run's score says nothing about GDT's config): the
    group with the most such runs (ties: the better best). ``compared`` says how many runs
    that was, and ``groups`` how many comparable groups there were in all.
    """
    column = f"metrics.{metric}"
    if frame.empty or column not in frame:
        return None
    ranked = sort_by(frame[~stopped(frame)], metric)
    ranked = ranked[ranked[column].notna()]
    for key in keys:
        name = f"params.{key}"
        ranked = ranked[ranked[name].notna()] if name in ranked else ranked.iloc[0:0]
    if ranked.empty:
        return None
    groups = ranked.apply(_group, axis=1)
    sizes = groups.value_counts(sort=False)
    chosen = max(sizes.index, key=lambda g: (sizes[g], ranked[groups == g][column].max()))
    pool = ranked[groups == chosen]
    row = pool.iloc[0]
    return {
        "run_id": row["run_id"],
        "run_name": row.get("tags.mlflow.runName"),
        "config": {k: parse_param(row.get(f"params.{k}")) for k in keys},
        "metrics": {
            m: float(row[f"metrics.{m}"])
            for m in SCORES
            if f"metrics.{m}" in row and not pd.isna(row[f"metrics.{m}"])
        },
        "compared": len(pool),
        "groups": len(sizes),
        "group": dict(zip(COMPARED_ON, chosen, strict=True)),
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
    """A fixed-width text table: run name, id (12 characters: ``compare --parent`` takes any
    unique prefix), status, scores (objective first), what was scored (tracker, weights,
    number of targets), swept keys."""
    ranked = sort_by(frame, metric)
    scores = [metric] + [m for m in SCORES if m != metric]
    header = ["run", "run_id", "status", *scores, "tracker", "weights", "targets", *keys]
    rows = [header]
    early = stopped(ranked)
    for (_, row), cut in zip(ranked.iterrows(), early, strict=True):
        targets = row.get("params.num_sequences")
        status = f"stopped@{row[STOPPED_AT_TAG]}" if cut else row.get("status")
        rows.append(
            [
                _cell(row.get("tags.mlflow.runName")),
                str(row["run_id"])[:12],
                _cell(status),
                *(_cell(row.get(f"metrics.{m}")) for m in scores),
                _cell(row.get("params.tracker")),
                _cell(row.get("params.weights"), 24),
                _cell(targets),
                *(_param_cell(row.get(f"params.{k}")) for k in keys),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_best(best: dict[str, Any], metric: str) -> str:
    """The best run's score and its swept values as ``--set`` options."""
    group = best.get("group", {})
    among = ", ".join(f"{k} {v}" for k, v in group.items() if k != "targets")
    lines = [
        f"best {metric} = {best['metrics'][metric]:.4f}: {best['run_name']} ({best['run_id']}), "
        f"among {best.get('compared', 1)} run(s) of {among or 'one kind'} on the same targets"
    ]
    if best.get("groups", 1) > 1:
        lines.append(
            f"  ({best['groups'] - 1} other group(s) of runs on other trackers, weights or "
            "targets were not compared with these)"
        )
    lines += [f"  --set {key}={value}" for key, value in best["config"].items()]
    return "\n".join(lines)
