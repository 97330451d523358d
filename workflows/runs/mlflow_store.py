"""Where runs go: tracking-URI resolution, the experiment, and the code version tag.

The driver resolves the tracking URI to an absolute one and creates the experiment; workers
(Ray tasks, actors, Tune trials, which run in other working directories) receive both and
never create experiments themselves (SQLite dislikes many writers).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gdt_core.resources import SOURCE_ROOT

DEFAULT_DB_NAME = "mlflow.db"
BATCH = 100  # MLflow's log_batch takes at most 100 params / 1000 metrics per call


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
        ["git", *args], cwd=SOURCE_ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def code_version() -> str:
    """The git commit of the code (``+dirty`` when modified) in a clone; installed from a
    wheel, ``gdt-flow==<version>``; ``unknown`` if neither can be told."""
    if not (SOURCE_ROOT / "pyproject.toml").is_file():  # not a checkout: site-packages
        try:
            return f"gdt-flow=={metadata.version('gdt-flow')}"
        except metadata.PackageNotFoundError:
            return "unknown"
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def version_tags(version: str | None = None) -> dict[str, str]:
    """``gdt.code_version`` (default :func:`code_version`) and, where it is a git commit,
    ``mlflow.source.git.commit`` (the MLflow UI's "Source" column)."""
    version = version or code_version()
    tags = {"gdt.code_version": version}
    commit = version.split("+")[0]
    if len(commit) == 40 and all(c in "0123456789abcdef" for c in commit):
        tags["mlflow.source.git.commit"] = commit
    return tags


class TrackingServerUnreachable(ConnectionError):
    """The MLflow tracking server did not answer."""


def check_reachable(tracking_uri: str, timeout: float = 3.0) -> None:
    """Fail fast (instead of MLflow's minutes of retries) when an HTTP server is down."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise TrackingServerUnreachable(
            f"MLflow server {tracking_uri} unreachable: {exc}"
        ) from None


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    """``params`` (values as text) in batches MLflow accepts."""
    from mlflow.entities import Param

    items = [Param(k, str(v)) for k, v in params.items()]
    for i in range(0, len(items), BATCH):
        client.log_batch(run_id, params=items[i : i + BATCH])


def log_metrics(
    client: Any, run_id: str, metrics: dict[str, float], step: int = 0, stamp: int | None = None
) -> None:
    """``metrics`` at ``step`` (time ``stamp`` in ms, default now) in batches."""
    from mlflow.entities import Metric

    stamp = stamp if stamp is not None else int(time.time() * 1000)
    items = [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
    for i in range(0, len(items), BATCH * 10):
        client.log_batch(run_id, metrics=items[i : i + BATCH * 10])


def reachable_experiment(tracking_uri: str, name: str) -> str:
    """The id of experiment ``name`` on ``tracking_uri`` (created if needed) once the server
    has answered: :class:`TrackingServerUnreachable` in seconds otherwise."""
    check_reachable(tracking_uri)
    return ensure_experiment(tracking_uri, name)


def open_run(
    client: Any,
    experiment_id: str,
    name: str,
    tags: dict[str, str] | None = None,
    parent_run_id: str | None = None,
    start_time: int | None = None,
) -> str:
    """A new RUNNING run (nested under ``parent_run_id`` where given, started at
    ``start_time`` ms, default now); its id."""
    tags = {**(tags or {}), **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})}
    run = client.create_run(experiment_id, start_time=start_time, run_name=name, tags=tags)
    return str(run.info.run_id)


def finish_run(
    client: Any, run_id: str, status: str = "FINISHED", end_time: int | None = None
) -> None:
    """End ``run_id`` with ``status`` at ``end_time`` (ms, default now)."""
    client.set_terminated(run_id, status=status, end_time=end_time)


@contextlib.contextmanager
def failed_on_error(client: Any, run_id: str) -> Iterator[None]:
    """A block that logs to ``run_id``: if it raises, the run ends FAILED (then the error
    goes on), never left RUNNING."""
    try:
        yield
    except BaseException:
        finish_run(client, run_id, "FAILED")
        raise
