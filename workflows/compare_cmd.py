"""``gdt-flow compare`` (runs sorted by an objective) and ``gdt-flow ui`` (the MLflow UI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

LOOPBACK = "127.0.0.1"


@click.command()
@click.option("--experiment", help="MLflow experiment (default mlflow.experiment).")
@click.option("--parent", "parent_run_id", help="Only the child runs of this run (a sweep).")
@click.option("--metric", type=click.Choice(["auc", "precision"]), default="auc", show_default=True)
@click.option("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI/sqlite).")
def compare(
    experiment: str | None, parent_run_id: str | None, metric: str, tracking_uri: str | None
) -> None:
    """Print runs as a table sorted by the objective, with the best configuration."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from workflows.mlflow_store import resolve_tracking_uri
    from workflows.options import build_config
    from workflows.run_table import (
        best_config,
        format_best,
        format_runs,
        search_runs,
        varying_config_keys,
    )

    cfg = build_config(**{"mlflow.tracking_uri": tracking_uri, "mlflow.experiment": experiment})
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        if parent_run_id:
            parent = client.get_run(parent_run_id)
            experiment_id = parent.info.experiment_id
            keys = [k for k in parent.data.params.get("sweep.params", "").split(",") if k]
        else:
            found = client.get_experiment_by_name(cfg.mlflow.experiment)
            if found is None:
                raise click.UsageError(f"no experiment '{cfg.mlflow.experiment}' at {uri}")
            experiment_id, keys = found.experiment_id, None
        runs = search_runs(uri, [experiment_id], parent_run_id)
    except MlflowException as exc:
        raise click.ClickException(f"{uri}: {exc.message}") from None
    if runs.empty:
        click.echo("no runs")
        return
    if keys is None:
        keys = varying_config_keys(runs)
    click.echo(format_runs(runs, metric, keys))
    best = best_config(runs, metric, keys)
    if best is None:
        click.echo(f"no run has the metric '{metric}'")
        return
    click.echo("\n" + format_best(best, metric))


def ui_command(tracking_uri: str, host: str, port: int, artifacts_dir: str | None) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri`` (a database store)."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri]
    command += ["--host", host, "--port", str(port)]
    if artifacts_dir:
        command += ["--artifacts-destination", str(Path(artifacts_dir).resolve())]
    return command


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
    """Start the MLflow UI on the project's store (bound to 127.0.0.1 unless --host)."""
    from workflows.mlflow_store import resolve_tracking_uri
    from workflows.options import build_config

    cfg = build_config(**{"mlflow.tracking_uri": tracking_uri})
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise click.UsageError(f"the tracking URI {uri} is a server already: open it in a browser")
    if host != LOOPBACK:
        click.secho(f"warning: the MLflow UI is reachable from other hosts on {host}", fg="yellow")
    command = ui_command(uri, host, port, artifacts_dir)
    click.echo(f"MLflow UI on http://{host}:{port} serving {uri}")
    os.execv(command[0], command)
