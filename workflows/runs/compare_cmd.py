"""``gdt-flow compare`` (runs sorted by an objective) and ``gdt-flow ui`` (the MLflow UI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

LOOPBACK = "127.0.0.1"
UI_START_TIMEOUT = 60.0  # s for `mlflow server` to answer


@click.command()
@click.option("--experiment", help="MLflow experiment (default mlflow.experiment).")
@click.option(
    "--parent",
    "parent_run_id",
    help="Only the child runs of this run (a sweep); any unique prefix of its id.",
)
@click.option("--metric", type=click.Choice(["auc", "precision"]), default="auc", show_default=True)
@click.option("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI/sqlite).")
def compare(
    experiment: str | None, parent_run_id: str | None, metric: str, tracking_uri: str | None
) -> None:
    """Print runs as a table sorted by the objective, with the best configuration."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from workflows.options import build_config
    from workflows.runs.mlflow_store import resolve_tracking_uri
    from workflows.runs.mlflow_urls import compare_url, runs_url, ui_base, where_to_look
    from workflows.runs.run_table import (
        best_config,
        format_best,
        format_runs,
        resolve_run_id,
        search_runs,
        stopped_summary,
        varying_config_keys,
        without_sweep_parents,
    )

    cfg = build_config(**{"mlflow.tracking_uri": tracking_uri, "mlflow.experiment": experiment})
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        if parent_run_id:
            every = search_runs(uri, [e.experiment_id for e in client.search_experiments()])
            parent_run_id = resolve_run_id(every, parent_run_id)
            parent = client.get_run(parent_run_id)
            experiment_id = parent.info.experiment_id
            keys = [k for k in parent.data.params.get("sweep.params", "").split(",") if k]
        else:
            found = client.get_experiment_by_name(cfg.mlflow.experiment)
            if found is None:
                raise click.UsageError(f"no experiment '{cfg.mlflow.experiment}' at {uri}")
            experiment_id, keys = found.experiment_id, None
        runs = without_sweep_parents(search_runs(uri, [experiment_id], parent_run_id))
    except MlflowException as exc:
        raise click.ClickException(f"{uri}: {exc.message}") from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if runs.empty:
        click.echo("no runs")
        return
    if keys is None:
        keys = varying_config_keys(runs)
    click.echo(format_runs(runs, metric, keys))
    if stopped_summary(runs):
        click.echo(stopped_summary(runs))
    best = best_config(runs, metric, keys)
    if best is None:
        click.echo(f"no run has the metric '{metric}'")
    else:
        click.echo("\n" + format_best(best, metric))
    base = ui_base(uri)
    if parent_run_id:
        url = compare_url(base, experiment_id, list(runs["run_id"]))
    else:
        url = runs_url(base, experiment_id)
    click.echo(f"in the MLflow UI{where_to_look(uri)}:\n  {url}")


def ui_workers(cpus: int | None = None) -> int:
    """uvicorn workers for the UI: one per two cores, 1..4 (MLflow's default is 4 whatever
    the machine: 16 s to start on 2 cores)."""
    return max(1, min(4, (cpus or os.cpu_count() or 2) // 2))


def ui_command(tracking_uri: str, host: str, port: int, artifacts_dir: str | None) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri`` (a database store)."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri]
    command += ["--host", host, "--port", str(port), "--workers", str(ui_workers())]
    if artifacts_dir:
        command += ["--artifacts-destination", str(Path(artifacts_dir).resolve())]
    return command


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Whether ``url``'s ``/health`` answered before ``timeout`` s (False: ``proc`` ended or
    the time ran out)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)  # not listening yet: poll again
    return False


def serve(command: list[str], base: str, landing: str) -> int:
    """Run the server; print ``landing`` once it answers; stop it on Ctrl-C. Its exit code."""
    proc = subprocess.Popen(command)
    try:
        if wait_until_up(base, proc, UI_START_TIMEOUT):
            click.secho(f"MLflow UI ready: {landing}", bold=True)
        elif proc.poll() is None:
            click.secho(f"warning: {base} did not answer within {UI_START_TIMEOUT} s", fg="yellow")
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


@click.command()
@click.option("--host", default=LOOPBACK, show_default=True, help="Interface to bind.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tracking-uri", help="Store to serve (default $MLFLOW_TRACKING_URI/sqlite).")
@click.option(
    "--artifacts-dir",
    type=click.Path(file_okay=False),
    help="Where experiments created from the UI keep artifacts (default ./mlartifacts).",
)
def ui(host: str, port: int, tracking_uri: str | None, artifacts_dir: str | None) -> None:
    """Start the MLflow UI on the project's store (bound to 127.0.0.1 unless --host); print
    the experiment's runs table once it answers."""
    from mlflow import MlflowClient

    from workflows.options import build_config
    from workflows.runs.mlflow_store import resolve_tracking_uri
    from workflows.runs.mlflow_urls import runs_url, ui_base

    cfg = build_config(**{"mlflow.tracking_uri": tracking_uri})
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise click.UsageError(f"the tracking URI {uri} is a server already: open it in a browser")
    if host != LOOPBACK:
        click.secho(f"warning: the MLflow UI is reachable from other hosts on {host}", fg="yellow")
    base = ui_base(uri, host if host != "0.0.0.0" else LOOPBACK, port)
    landing = base
    if uri.startswith("sqlite:///") and Path(uri[len("sqlite:///") :]).is_file():
        found = MlflowClient(tracking_uri=uri).get_experiment_by_name(cfg.mlflow.experiment)
        landing = runs_url(base, found.experiment_id) if found else base
    click.echo(f"starting the MLflow UI on {base} serving {uri} ...")
    sys.exit(serve(ui_command(uri, host, port, artifacts_dir), base, landing))
