"""MLflow records of evaluations, made from the run directory alone (so they can come later).

One MLflow run per evaluation: params = the full resolved config + weights URI + target list;
metrics = AUC, precision@20, mean frames/s, per attribute (``attr/<A>/auc``), per target
(``auc/<Seq>``, ``precision/<Seq>``, ``fps/<Seq>``); artifacts = the OTB result files, the
plots, the per-target table, ``report.json``, ``run.json`` and each failed target's error;
tags = the code's git commit, the tracker, and the failed targets. ``gdt-flow log-run DIR``
calls :func:`log_evaluation` on a directory whose evaluation could not reach the server.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from gdt_core.config import flatten
from gdt_core.tracking.trackers import GDT_TRACKERS
from workflows.evaluate.evaluation import read_manifest
from workflows.evaluate.evaluation_summary import PLOTS_DIR, REPORT_JSON, TARGETS_CSV, read_summary
from workflows.pretrain.weights_fetch import weights_name
from workflows.runs.mlflow_store import (
    check_reachable,
    failed_on_error,
    finish_run,
    log_metrics,
    log_params,
    open_run,
    version_tags,
)

LOGGED_MARKER = "mlflow_run.json"
MAX_TAG = 5000


def weights_label(manifest: dict[str, Any]) -> str:
    """Which weights ran: the cache's provenance name (``alexnet-imagenet-conv``) for the
    fetched ImageNet weights, else the URI or path as given, ``random-init`` for a GDT run
    without weights, ``none`` for a baseline."""
    if manifest["tracker"] not in GDT_TRACKERS:
        return "none"
    path = manifest.get("weights_path")
    name = weights_name(path) if path else None
    if name is not None and name != str(path):  # the cache's file: its provenance name
        return name
    return str(manifest.get("weights_uri") or "random-init")


def evaluation_params(manifest: dict[str, Any]) -> dict[str, str]:
    """The resolved config (dotted keys) plus what was evaluated on which data."""
    params = {k: str(v) for k, v in flatten(manifest["config"]).items()}
    params.update(
        {
            "tracker": manifest["tracker"],
            "weights": weights_label(manifest),
            "sequences": ",".join(manifest["sequences"]),
            "num_sequences": str(len(manifest["sequences"])),
            "otb_root": str(manifest["otb_root"]),
            "dataset": manifest.get("dataset", "otb"),
        }
    )
    return params


def evaluation_metrics(summary: dict[str, Any], label: str) -> dict[str, float]:
    """Data-set, per-attribute (OTB) and per-target scores of the evaluated tracker: OTB's
    ``auc``/``precision``, LaSOT's plus ``norm_precision``, GOT-10k's ``ao``/``sr50``/``sr75``."""
    names = summary.get("metrics", ["auc", "precision"])
    scores = summary["trackers"].get(label, {})  # absent when no target finished
    metrics = {k: scores[k] for k in (*names, "fps") if k in scores}
    for attr, value in scores.get("attributes", {}).items():
        metrics[f"attr/{attr}/auc"] = value["auc"]
        metrics[f"attr/{attr}/precision"] = value["precision"]
    for seq, value in scores.get("sequences", {}).items():
        metrics.update({f"{m}/{seq}": value[m] for m in names})
        if "fps" in value:
            metrics[f"fps/{seq}"] = value["fps"]
    metrics["targets_done"] = len(scores.get("sequences", {}))
    metrics["targets_failed"] = len(summary.get("failed", {}))
    metrics["targets_missing"] = len(summary.get("missing", []))
    return {k: float(v) for k, v in metrics.items() if v is not None}


def log_evaluation(
    run_dir: str | Path,
    tracking_uri: str,
    experiment_id: str,
    *,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    update_run_id: str | None = None,
    step: int | None = None,
) -> str:
    """Log the evaluation in ``run_dir`` (scored by :mod:`workflows.evaluate.evaluation_summary`).

    ``update_run_id``: the run an earlier, partial attempt on the same directory logged
    (a resumed evaluation that re-ran its failed targets): that run is brought up to date --
    tags, metrics at the next step (or at ``step``), artifacts, status and end time -- instead
    of a second run beside it; a run no longer on the server gets a new one.

    Returns the MLflow run id, also stored in ``<run_dir>/mlflow_run.json``. Raises
    :class:`TrackingServerUnreachable` (or MLflow's own error) when logging fails; the
    directory is left unchanged then.
    """
    from mlflow import MlflowClient
    from mlflow.entities import RunTag

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    summary = read_summary(run_dir)
    label = manifest["label"]
    check_reachable(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    failed = summary.get("failed", {})
    scored = label in summary.get("trackers", {})  # absent when no target finished
    tags = {
        **version_tags(manifest.get("code_version")),
        "gdt.tracker": manifest["tracker"],
        "gdt.label": label,
        "gdt.run_dir": str(run_dir.resolve()),
        "gdt.status": ("partial" if failed else "complete") if scored else "failed",
        "gdt.failed_targets": ",".join(sorted(failed)),
        **{f"failed/{seq}": error[:MAX_TAG] for seq, error in failed.items()},
        **(extra_tags or {}),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    started, finished = summary.get("started_ms"), summary.get("finished_ms")
    earlier = _existing_run(client, update_run_id)
    if earlier is None:
        run_id = open_run(client, experiment_id, run_name or label, tags, start_time=started)
        logged_params, step = {}, step or 0
    else:
        run_id, logged_params = earlier.info.run_id, earlier.data.params
        if step is None:
            step = len(client.get_metric_history(run_id, "targets_done"))
        for key in earlier.data.tags:  # targets that failed then and are scored now
            if key.startswith("failed/") and key not in tags:
                client.delete_tag(run_id, key)
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    with failed_on_error(client, run_id):
        params = evaluation_params(manifest)
        log_params(client, run_id, {k: v for k, v in params.items() if k not in logged_params})
        stamp = int(finished or time.time() * 1000)
        log_metrics(client, run_id, evaluation_metrics(summary, label), step, stamp)
        client.log_batch(run_id, tags=[RunTag("gdt.targets", str(len(manifest["sequences"])))])
        _log_artifacts(client, run_id, run_dir, label, summary)
    finish_run(client, run_id, "FINISHED" if scored else "FAILED", end_time=finished)
    marker = {"tracking_uri": tracking_uri, "experiment_id": experiment_id, "run_id": run_id}
    (run_dir / LOGGED_MARKER).write_text(json.dumps(marker, indent=1))
    return run_id


def _existing_run(client, run_id: str | None):
    """The active MLflow run ``run_id``, or None (none given, deleted, or not on this
    server)."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    return run if run.info.lifecycle_stage == "active" else None


def _log_artifacts(client, run_id: str, run_dir: Path, label: str, summary: dict) -> None:
    results = run_dir / label
    if results.is_dir():
        client.log_artifacts(run_id, str(results), artifact_path=f"results/{label}")
    if (run_dir / PLOTS_DIR).is_dir():
        client.log_artifacts(run_id, str(run_dir / PLOTS_DIR), artifact_path="plots")
    for name in (TARGETS_CSV, REPORT_JSON, "run.json"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    failed = summary.get("failed", {})
    if failed:
        with tempfile.TemporaryDirectory() as tmp:
            for seq, error in failed.items():
                text = summary.get("failed_tracebacks", {}).get(seq) or error
                (Path(tmp) / f"{seq}.txt").write_text(text)
            client.log_artifacts(run_id, tmp, artifact_path="failures")


def logged_run(run_dir: str | Path, tracking_uri: str) -> str | None:
    """The MLflow run id ``run_dir`` was logged as on ``tracking_uri`` (its
    ``mlflow_run.json``), or None when it was not logged there."""
    path = Path(run_dir) / LOGGED_MARKER
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return marker.get("run_id") if marker.get("tracking_uri") == tracking_uri else None
