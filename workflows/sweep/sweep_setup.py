"""A new sweep's context, checked before Ray starts: the space, the targets, the tracking
server and the weights (``gdt-flow sweep``; :class:`~workflows.sweep.tune_sweep.SweepContext`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdt_core.config import Config, ConfigError
from gdt_core.data.otb import OTBDataError, sequence_names
from gdt_core.data.otb import sequence_table as load_table
from gdt_core.network.network import WeightsError
from workflows.evaluate.evaluation import missing_targets
from workflows.pretrain.weights import gdt_weights, resolve_weights
from workflows.runs.mlflow_store import reachable_experiment, resolve_tracking_uri
from workflows.sweep.sweep_space import check_ranges, resolve_space
from workflows.sweep.tune_sweep import (
    SWEEP_JSON,
    SweepContext,
    can_resume,
    open_parent_run,
    reopen_parent_run,
)


def target_order(targets: list[str], seed: int) -> list[str]:
    """The order every trial of a sweep evaluates its targets in: shuffled with ``seed``,
    so that trials stopped after k targets (``--scheduler asha``) were scored on the same k
    and those k are no particular subset of the list."""
    import numpy as np

    return [targets[i] for i in np.random.default_rng(seed).permutation(len(targets))]


class SweepSetupError(ValueError):
    """An argument that makes the sweep impossible (a bad space, target or weights)."""


def new_sweep_context(
    cfg: Config,
    *,
    params: tuple[str, ...],
    values: str | None,
    search: str,
    scheduler: str,
    grace_period: int,
    reduction_factor: float,
    startup_trials: int,
    num_samples: int,
    metric: str,
    experiment_dir: Path,
    otb_root: str,
    anno_dir: str | None,
    sequences: str,
    sequence_table: str | None,
    tracker: str,
    weights: str | None,
    trial_cpus: float,
    trial_gpus: float,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> SweepContext:
    """Check everything the driver can check before a trial starts (the space, the
    targets, the tracking server, the weights); the sweep's context. A bad argument is a
    :class:`SweepSetupError`; an unreachable server,
    :class:`~workflows.runs.mlflow_store.TrackingServerUnreachable`."""

    try:
        space = resolve_space(params, cfg, values)
        check_ranges(space, search)
        targets = sequence_names(sequences, load_table(sequence_table))
    except (ConfigError, OTBDataError) as exc:
        raise SweepSetupError(str(exc)) from None
    missing = missing_targets(otb_root, targets, sequence_table)
    if len(missing) == len(targets):
        raise SweepSetupError(f"none of the targets is under {otb_root}: {', '.join(missing)}")
    if missing:
        warn(f"not under {otb_root}, skipped: {', '.join(missing)}")
    present = target_order([t for t in targets if t not in missing], cfg.seed)
    if scheduler == "asha" and grace_period > len(present):
        raise SweepSetupError(
            f"--grace-period {grace_period}: more than the sweep's {len(present)} target(s); "
            "a trial is judged after at most that many"
        )
    if search == "optuna" and num_samples <= startup_trials:
        warn(
            f"--num-samples {num_samples} <= --startup-trials {startup_trials}: "
            "Optuna's TPE draws every trial at random"
        )
    tracking_uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    experiment_id = reachable_experiment(tracking_uri, cfg.mlflow.experiment)
    weights = gdt_weights(weights, tracker)
    is_file = weights and not weights.startswith(("runs:/", "models:/"))
    weights_uri = str(Path(weights).resolve()) if is_file else weights
    try:
        local = resolve_weights(weights_uri, tracking_uri, experiment_dir / "weights")
    except WeightsError as exc:
        raise SweepSetupError(str(exc)) from None
    resources = {"cpu": trial_cpus} | ({"gpu": trial_gpus} if trial_gpus else {})
    context = SweepContext(
        name=experiment_dir.name,
        experiment_dir=str(experiment_dir),
        tracking_uri=tracking_uri,
        experiment_id=experiment_id,
        parent_run_id="",
        metric=metric,
        search=search,
        num_samples=num_samples,
        space=[dataclasses.asdict(p) for p in space],
        config=cfg.to_dict(),
        targets=present,
        otb_root=str(Path(otb_root).resolve()),
        tracker=tracker,
        weights_uri=weights_uri,
        weights_path=str(Path(local).resolve()) if local is not None else None,
        sequence_table=str(Path(sequence_table).resolve()) if sequence_table else None,
        anno_dir=str(Path(anno_dir).resolve()) if anno_dir else None,
        trial_resources=resources,
        scheduler=scheduler,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        startup_trials=startup_trials,
        order_seed=cfg.seed,
    )
    say(f"sweep {context.name}: {context.trials} trial(s) over {context.keys}")
    return context


def new_experiment_dir(storage: Path, name: str | None, params: tuple[str, ...]) -> Path:
    """The folder of a new sweep under ``storage``: ``name``, else ``sweep-<params>-<UTC
    time>``; a :class:`SweepSetupError` if a sweep is there already."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    label = "-".join(Path(p).stem if p.endswith((".yaml", ".yml")) else p for p in params)
    experiment_dir = storage / (name or f"sweep-{label}-{stamp}")
    if (experiment_dir / SWEEP_JSON).exists():
        raise SweepSetupError(f"{experiment_dir} exists: use --resume or another --name")
    return experiment_dir


def start_sweep(cfg: Config, experiment_dir: Path, **setup: Any) -> SweepContext:
    """A new sweep: its checked context (:func:`new_sweep_context`), its MLflow parent run
    opened, the context saved beside Tune's experiment (what ``--resume`` reads)."""
    context = new_sweep_context(cfg, experiment_dir=experiment_dir, **setup)
    context = dataclasses.replace(context, parent_run_id=open_parent_run(context))
    context.save()
    return context


def resume_context(storage: Path, name: str | None) -> SweepContext:
    """The sweep ``name`` under ``storage`` (default: the latest resumable one), its parent
    run RUNNING again; a :class:`SweepSetupError` when there is none to resume."""
    if name:
        experiment_dir = storage / name
    else:
        found = (
            [d for d in storage.iterdir() if d.is_dir() and can_resume(d)]
            if storage.is_dir()
            else []
        )
        if not found:
            raise SweepSetupError(f"--resume: no resumable sweep under {storage}")
        experiment_dir = max(found, key=lambda d: d.stat().st_mtime)
    if not can_resume(experiment_dir):
        raise SweepSetupError(f"--resume: {experiment_dir} holds no resumable sweep")
    context = SweepContext.load(experiment_dir)
    reopen_parent_run(context)
    return context
