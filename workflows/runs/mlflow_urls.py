"""Links into the MLflow UI that land on what a user of this workflow wants to see.

MLflow 3's UI opens an experiment on its GenAI overview (traces), not on its runs; the runs
table needs ``?workflowType=machine_learning``, and a sweep's trials are best seen on the
compare page (parallel coordinates of the swept parameters against ``auc``). For a local
store the UI is ``gdt-flow ui`` on 127.0.0.1:5000; a tracking server is its own UI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

UI_HOST = "127.0.0.1"
UI_PORT = 5000


def ui_base(tracking_uri: str, host: str = UI_HOST, port: int = UI_PORT) -> str:
    """The UI's address: the tracking server itself, else where ``gdt-flow ui`` serves."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return f"http://{host}:{port}"


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table (the machine-learning view, not the GenAI overview)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def compare_url(base: str, experiment_id: str, run_ids: Sequence[str]) -> str:
    """MLflow's compare page of ``run_ids`` (a sweep's trials)."""
    runs = json.dumps(list(run_ids), separators=(",", ":"))
    experiments = json.dumps([experiment_id], separators=(",", ":"))
    return f"{base}/#/compare-runs?runs={runs}&experiments={experiments}"


def where_to_look(tracking_uri: str) -> str:
    """A note for URLs on a local store: they work once ``gdt-flow ui`` serves it."""
    if tracking_uri.startswith(("http://", "https://")):
        return ""
    return f" (after: gdt-flow ui --tracking-uri {tracking_uri})"
