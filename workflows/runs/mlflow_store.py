"""Where runs go: tracking-URI resolution, the experiment, and the code version tag.

The driver resolves the tracking URI to an absolute one and creates the experiment; workers
(Ray tasks, actors, Tune trials, which run in other working directories) receive both and
never create experiments themselves (SQLite dislikes many writers).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gdt_core.config import PROJECT_ROOT

DEFAULT_DB_NAME = "mlflow.db"


def resolve_tracking_uri(uri: str | None = None, base_dir: str | Path | None = None) -> str:
    """An absolute tracking URI.

    Order: ``uri``, ``$MLFLOW_TRACKING_URI``, ``sqlite:///<base_dir or cwd>/mlflow.db``.
    A relative SQLite URI or a bare path is made absolute against ``base_dir`` (or cwd), so
    that every Ray worker and Tune trial writes to the same store.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    base = Path(base_dir or Path.cwd()).resolve()
    if not uri:
        return f"sqlite:///{base / DEFAULT_DB_NAME}"
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if not path.startswith("/"):
            return f"sqlite:///{(base / path).resolve()}"
        return uri
    if "://" not in uri:  # a bare path: a SQLite database file
        path = Path(uri)
        return f"sqlite:///{(path if path.is_absolute() else base / path).resolve()}"
    return uri


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a SQLite database (not
    MLflow's default ``./mlruns`` of whatever directory the first run started in); a tracking
    server decides for itself (None)."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
    return None


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """Create (or find) the experiment ``name`` on ``tracking_uri``; return its id (driver only)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def code_version() -> str:
    """The git commit of the code (``+dirty`` when modified), or ``unknown`` outside a clone."""
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha
