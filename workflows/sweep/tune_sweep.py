"""Hyper-parameter sweeps on Ray Tune, one nested MLflow run per trial (``gdt-flow sweep``).

The driver opens the sweep's parent MLflow run and keeps it active; every Tune trial evaluates
the chosen targets with its config overrides
(:func:`workflows.evaluate.evaluation.evaluate_targets`), in the sweep's one shuffled order, and
reports as it goes: after each target its running ``auc`` and ``precision`` (``targets_done``
= k) to Tune and, at step k, on its child run; at the end it logs the whole evaluation on that
child exactly as ``gdt-flow evaluate`` logs one
(:func:`workflows.evaluate.evaluation_mlflow.log_evaluation`). Searches: grid, random, or
Optuna's TPE (``--search optuna``) over the same spaces; ``--scheduler asha`` lets Tune's ASHA
stop trials after a rung of targets (``grace_period`` x ``reduction_factor``^i), and the
driver marks their child runs ``gdt.status=stopped`` with the rung they reached
(``gdt.stopped_at``): they never compete for best. Trials run in
other processes and working directories, so they receive absolute paths, the absolute tracking URI,
the experiment id and the parent run id (:class:`SweepContext`); they never create experiments.

Resuming (``--resume``) restores the Tune experiment with its original settings: finished
trials are not run again. A trial that restarts (after an interruption, a Tune retry, or
``--retry-failed``) reuses its evaluation directory, so targets already tracked are skipped,
reuses its child run if that was completely logged, and deletes a child run that an earlier
attempt left unfinished or failed: each trial ends with exactly one child run. A failing trial
records a FAILED child run (the error as tag ``gdt.error`` and artifact ``error.txt``), then
raises, so that Tune marks it ERROR while the other trials go on.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gdt_core.config import Config, from_dict
from workflows.ray_runtime import verbose
from workflows.runs.mlflow_store import finish_run, log_metrics, log_params, open_run, version_tags
from workflows.sweep.sweep_space import ParamSpace, grid_size, tune_space

SWEEP_JSON = "sweep.json"
EVALUATIONS_DIR = "evaluations"
TAG_SWEEP = "gdt.sweep"
TAG_TRIAL = "gdt.trial_id"
TAG_ERROR = "gdt.error"
TAG_STATUS = "gdt.status"
TAG_STOPPED_AT = "gdt.stopped_at"  # targets a stopped trial was scored on
TIME_ATTR = "targets_done"  # ASHA's clock: the targets a trial has been scored on
MAX_TAG = 5000


@dataclass(frozen=True)
class SweepContext:
    """Everything a trial needs besides its overrides; saved as ``<experiment dir>/sweep.json``."""

    name: str
    experiment_dir: str  # absolute: Tune's experiment directory
    tracking_uri: str  # absolute (resolve_tracking_uri)
    experiment_id: str
    parent_run_id: str
    metric: str
    search: str
    num_samples: int
    space: list[dict[str, Any]]  # ParamSpace fields, in --param order
    config: dict[str, Any]  # the resolved base config (Config.to_dict())
    targets: list[str]
    otb_root: str  # absolute
    tracker: str
    weights_uri: str | None = None  # a file path made absolute, or runs:/ models:/ URI
    weights_path: str | None = None  # the driver's local copy (absolute; used where present)
    sequence_table: str | None = None  # absolute
    anno_dir: str | None = None  # absolute
    trial_resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0})
    scheduler: str = "none"  # or asha
    grace_period: int = 1  # asha: targets before a trial can be stopped
    reduction_factor: float = 2.0  # asha
    startup_trials: int = 10  # optuna: TPE's random draws before it models (n_startup_trials)
    order_seed: int | None = None  # the seed that shuffled ``targets``

    @property
    def keys(self) -> list[str]:
        return [p["key"] for p in self.space]

    @property
    def params(self) -> list[ParamSpace]:
        return [
            ParamSpace(p["key"], tuple(p["grid"]), p.get("sampler"), tuple(p.get("bounds", ())))
            for p in self.space
        ]

    @property
    def trials(self) -> int:
        """Trials of the whole sweep: every grid point ``num_samples`` times, or
        ``num_samples`` random draws or TPE suggestions."""
        per_pass = grid_size(self.params) if self.search == "grid" else 1
        return per_pass * self.num_samples

    def base_config(self) -> Config:
        return from_dict(self.config, source=f"{self.experiment_dir}/{SWEEP_JSON}")

    def save(self) -> Path:
        path = Path(self.experiment_dir) / SWEEP_JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, default=str))
        return path

    @classmethod
    def load(cls, experiment_dir: str | Path) -> SweepContext:
        path = Path(experiment_dir) / SWEEP_JSON
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: not a gdt-flow sweep (no {SWEEP_JSON})") from None
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable sweep description ({exc})") from None


def _trial_identity() -> tuple[str, str]:
    from ray import tune

    context = tune.get_context()
    return context.get_trial_id(), context.get_trial_name()


def _open_child_run(
    context: SweepContext, trial_id: str, trial_name: str, overrides: dict[str, Any]
) -> str:
    """The trial's child run, RUNNING from its start, its overrides as params: its scores
    come step by step (``targets_done``), its evaluation at the end."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=context.tracking_uri)
    tags = {TAG_SWEEP: context.name, TAG_TRIAL: trial_id}
    run_id = open_run(client, context.experiment_id, trial_name, tags, context.parent_run_id)
    log_params(client, run_id, overrides)
    return run_id


def _record_failed_trial(context: SweepContext, run_id: str, failure: tuple[str, str]) -> None:
    """The trial's child run ends FAILED, its error as tag and artifact (``error.txt``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=context.tracking_uri)
    client.set_tag(run_id, TAG_ERROR, failure[0][:MAX_TAG])
    client.log_text(run_id, failure[1], "error.txt")
    finish_run(client, run_id, "FAILED")


def _clear_earlier_attempts(context: SweepContext, trial_id: str) -> None:
    """Delete this trial's child runs left unfinished or failed by an earlier attempt.

    A trial runs again after an interruption (``--resume``), a Tune retry or
    ``--retry-failed``; its latest attempt is its one child run. A FINISHED child is kept:
    the evaluation directory's marker then reuses it.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=context.tracking_uri)
    where = (
        f"tags.`mlflow.parentRunId` = '{context.parent_run_id}' "
        f"and tags.`{TAG_TRIAL}` = '{trial_id}'"
    )
    for run in client.search_runs([context.experiment_id], filter_string=where):
        if run.info.status != "FINISHED":
            client.delete_run(run.info.run_id)


def _rename_run(context: SweepContext, run_id: str, name: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=context.tracking_uri).update_run(run_id, name=name)


def run_trial(params: dict[str, Any], context: SweepContext) -> None:
    """The Tune trainable: evaluate with this trial's overrides, reporting as it goes.

    After each target k (the sweep's order) it reports the running ``auc`` and ``precision``
    with ``targets_done`` = k to Tune, which may stop it there (``--scheduler asha``: Tune
    then ends this function at that report), and logs them at step k on its child run; after
    the last it logs the whole evaluation on that run and reports the final scores, ``fps``
    and the child's ``mlflow_run_id``. An invalid override, or an evaluation in which no
    target finished, fails the trial.
    """
    import numpy as np
    from mlflow import MlflowClient
    from ray import tune

    from workflows.evaluate.evaluation import TargetRecord, evaluate_targets
    from workflows.evaluate.evaluation_mlflow import log_evaluation, logged_run
    from workflows.evaluate.evaluation_summary import summarize_run
    from workflows.pretrain.weights import resolve_weights

    trial_id, trial_name = _trial_identity()
    overrides = {key: params[key] for key in context.keys}
    run_dir = Path(context.experiment_dir) / EVALUATIONS_DIR / trial_id
    _clear_earlier_attempts(context, trial_id)
    # a trial logged whole before an interruption keeps its run and is not logged twice
    logged = logged_run(run_dir, context.tracking_uri)
    run_id = logged or _open_child_run(context, trial_id, trial_name, overrides)
    client = MlflowClient(tracking_uri=context.tracking_uri)
    total = len(context.targets)
    records: list[TargetRecord] = []

    def running(record: TargetRecord) -> None:
        records.append(record)
        done = [r for r in records if r.done]
        scores = {m: float(np.mean([getattr(r, m) for r in done])) if done else 0.0
                  for m in ("auc", "precision")}  # fmt: skip
        if len(records) == total:  # the last step comes with the whole evaluation
            return
        if done and logged is None:
            log_metrics(client, run_id, scores, step=len(records))
        tune.report({**scores, TIME_ATTR: len(records), "mlflow_run_id": run_id})

    try:
        cfg = context.base_config().replace(overrides)
        local = Path(context.weights_path) if context.weights_path else None
        if local is None or not local.is_file():  # another node: fetch the weights there
            local = resolve_weights(context.weights_uri, context.tracking_uri, run_dir / "weights")
        result = evaluate_targets(
            cfg,
            context.targets,
            context.otb_root,
            context.tracker,
            local,
            run_dir,
            anno_dir=context.anno_dir,
            weights_uri=context.weights_uri,
            sequence_table=context.sequence_table,
            on_record=running,
        )
        if not result.done:
            errors = "; ".join(f"{r.sequence}: {r.error}" for r in result.failed)
            raise RuntimeError(f"no target finished ({errors or 'no target present'})")
        if logged is None:
            summarize_run(run_dir, compare_with=[])
            log_evaluation(
                run_dir,
                context.tracking_uri,
                context.experiment_id,
                run_name=trial_name,
                parent_run_id=context.parent_run_id,
                extra_tags={TAG_SWEEP: context.name, TAG_TRIAL: trial_id},
                update_run_id=run_id,
                step=len(records),
            )
        # the runs table's first column shows the swept values and the score without any
        # column set up in the browser (MLflow keeps that choice per browser, not per run)
        score = result.auc if context.metric == "auc" else result.precision
        _rename_run(context, run_id, f"{trial_name} {context.metric}={score:.3f}")
    except Exception as exc:
        _record_failed_trial(
            context, run_id, (f"{type(exc).__name__}: {exc}", traceback.format_exc())
        )
        raise
    tune.report(
        {
            "auc": result.auc,
            "precision": result.precision,
            "fps": result.fps,
            TIME_ATTR: len(records),
            "mlflow_run_id": run_id,
        }
    )


def trial_name(trial: Any) -> str:
    """``<trial id> key=value,...``: the trial's (and its MLflow child run's) name."""
    values = ",".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.config.items()
    )
    return f"{trial.trial_id} {values}"


def _trainable(context: SweepContext) -> Any:
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(run_trial, context=context), dict(context.trial_resources)
    )


@dataclass
class SweepOutcome:
    """What one ``fit`` left: trials finished, stopped early by the scheduler, failed and
    not finished (interrupted)."""

    context: SweepContext
    finished: int
    failed: int
    unfinished: int
    stopped: int = 0  # by the scheduler, early (their scores are partial)

    @property
    def interrupted(self) -> bool:
        return self.unfinished > 0


def _trial_lines(context: SweepContext):
    """A Tune callback printing one line per ended trial (its swept values and score, or its
    error: the sweep's progress without Tune's tables) and marking the child run of a trial
    stopped early (``gdt.status=stopped``, ``gdt.stopped_at`` = targets scored; FINISHED:
    a stopped trial ended as its scheduler meant it to)."""
    from ray import tune

    metric, total = context.metric, len(context.targets)

    class TrialLines(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001
            result = trial.last_result or {}
            score = result.get(metric)
            shown = f"{metric} {score:.4f}" if isinstance(score, float) else "no score"
            reached = result.get(TIME_ATTR, total)
            if reached < total:
                shown += f" after {reached} of {total} targets: stopped"
                _mark_stopped(context, result.get("mlflow_run_id"), trial, reached, score)
            print(f"trial {trial.trial_id} {trial.config}: {shown}", flush=True)

        def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ANN001
            print(f"trial {trial.trial_id} {trial.config}: FAILED", flush=True)

    return TrialLines()


def _mark_stopped(
    context: SweepContext, run_id: str | None, trial: Any, reached: int, score: Any
) -> None:
    """The child run of a trial the scheduler stopped after ``reached`` targets."""
    if not run_id:
        return
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=context.tracking_uri)
    client.set_tag(run_id, TAG_STATUS, "stopped")
    client.set_tag(run_id, TAG_STOPPED_AT, str(reached))
    partial = f" {context.metric}={score:.3f}" if isinstance(score, float) else ""
    name = f"{trial_name(trial)}{partial} stopped at {reached}/{len(context.targets)}"
    client.update_run(run_id, name=name)
    finish_run(client, run_id)


def _search(context: SweepContext, max_concurrent: int | None, seed: int) -> tuple[Any, Any]:
    """Tune's search algorithm for ``context.search`` and the scheduler of
    ``context.scheduler`` (``None``: every trial runs to its end)."""
    from optuna.samplers import TPESampler
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    if context.search == "optuna":  # TPE over the spaces' ranges, seeded
        sampler = TPESampler(seed=seed, n_startup_trials=context.startup_trials)
        search: Any = OptunaSearch(sampler=sampler)
        if max_concurrent:
            search = ConcurrencyLimiter(search, max_concurrent=max_concurrent)
    else:  # the generator's own limit: Tune ignores max_concurrent_trials for it
        search = BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0)
    scheduler = None
    if context.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr=TIME_ATTR,
            max_t=len(context.targets),
            grace_period=context.grace_period,
            reduction_factor=context.reduction_factor,
        )
    return search, scheduler


def run_tuner(
    context: SweepContext,
    *,
    resume: bool = False,
    max_concurrent: int | None = None,
    max_failures: int = 0,
    retry_failed: bool = False,
    seed: int = 0,
) -> SweepOutcome:
    """Run (or restore and continue) the Tune experiment of ``context``; Ray must be up."""
    from ray import tune

    experiment_dir = Path(context.experiment_dir)
    if not verbose():  # Tune's new output prints its banner even at verbose=0; the old one
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # is silent there
    run_config = tune.RunConfig(
        name=context.name,
        storage_path=str(experiment_dir.parent),
        failure_config=tune.FailureConfig(max_failures=max_failures),
        verbose=1 if verbose() else 0,  # Tune's status tables only with --verbose
        callbacks=[_trial_lines(context)],
    )
    if resume:  # the searcher's and the scheduler's state come back with the experiment
        tuner = tune.Tuner.restore(
            str(experiment_dir),
            trainable=_trainable(context),
            restart_errored=retry_failed,
        )
    else:
        search, scheduler = _search(context, max_concurrent, seed)
        tuner = tune.Tuner(
            _trainable(context),
            param_space=tune_space(context.params, context.search),
            tune_config=tune.TuneConfig(
                metric=context.metric,
                mode="max",
                num_samples=context.num_samples,
                search_alg=search,
                scheduler=scheduler,
                reuse_actors=True,  # one process imports torch/MLflow once for many trials
                trial_name_creator=trial_name,
            ),
            run_config=run_config,
        )
    results = tuner.fit()
    failed = sum(1 for r in results if r.error is not None)
    complete = [r for r in results if r.error is None and context.metric in (r.metrics or {})]
    stopped = sum(1 for r in complete if r.metrics.get(TIME_ATTR, 0) < len(context.targets))
    finished = len(complete) - stopped
    # counted against the sweep's size: an interrupt can come before Tune created every trial
    unfinished = max(context.trials, len(results)) - finished - stopped - failed
    return SweepOutcome(context, finished, failed, unfinished, stopped)


def can_resume(experiment_dir: str | Path) -> bool:
    """Whether ``experiment_dir`` holds a sweep that Tune can restore."""
    from ray import tune

    return (Path(experiment_dir) / SWEEP_JSON).is_file() and tune.Tuner.can_restore(
        str(experiment_dir)
    )


def open_parent_run(context: SweepContext) -> str:
    """Create the sweep's parent run, left RUNNING: the space and the objective as params."""
    from mlflow import MlflowClient

    from workflows.evaluate.evaluation_mlflow import weights_label

    client = MlflowClient(tracking_uri=context.tracking_uri)
    tags = {
        TAG_SWEEP: context.name,
        "gdt.role": "sweep",
        **version_tags(),
        "gdt.tracker": context.tracker,
        "gdt.sweep_dir": context.experiment_dir,
    }
    run_id = open_run(client, context.experiment_id, context.name, tags)
    space = {p.key: p.to_dict() for p in context.params}
    params = {
        "sweep.params": ",".join(context.keys),
        "sweep.space": json.dumps(space),
        "sweep.metric": context.metric,
        "sweep.search": context.search,
        "sweep.num_samples": str(context.num_samples),
        "sweep.scheduler": context.scheduler,
        "sweep.grace_period": str(context.grace_period),
        "sweep.reduction_factor": str(context.reduction_factor),
        "sweep.startup_trials": str(context.startup_trials),
        "sweep.order_seed": str(context.order_seed),
        "sweep.tracker": context.tracker,
        "sweep.sequences": ",".join(context.targets),
        "sweep.weights": weights_label(
            {
                "tracker": context.tracker,
                "weights_uri": context.weights_uri,
                "weights_path": context.weights_path,
            }
        ),
        "sweep.otb_root": context.otb_root,
    }
    log_params(client, run_id, params)
    return run_id


def reopen_parent_run(context: SweepContext) -> None:
    """Mark the parent run RUNNING again for a resumed sweep."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=context.tracking_uri).update_run(
        context.parent_run_id, status="RUNNING"
    )


def close_parent_run(context: SweepContext, status: str) -> None:
    """End the parent run with ``status`` (best effort: the store may be what failed)."""
    from mlflow import MlflowClient

    try:
        finish_run(MlflowClient(tracking_uri=context.tracking_uri), context.parent_run_id, status)
    except Exception:  # noqa: BLE001 -- the original error is what the user must see
        pass


def finish_sweep(context: SweepContext, outcome: SweepOutcome) -> dict[str, Any] | None:
    """Log the best trial, the plots and the trial table on the parent run, then close it.

    The parent ends FINISHED, or KILLED when trials are left unfinished (``--resume`` goes
    on), or FAILED when no trial finished at all. Returns the best trial (``None``: none).
    """
    import tempfile

    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    from workflows.runs.run_table import best_config, search_runs
    from workflows.sweep.sweep_plots import plot_objective

    client = MlflowClient(tracking_uri=context.tracking_uri)
    parent = context.parent_run_id
    runs = search_runs(context.tracking_uri, [context.experiment_id], parent)
    best = best_config(runs, context.metric, context.keys)
    now = int(time.time() * 1000)
    counts = {
        "trials_finished": outcome.finished,
        "trials_stopped": outcome.stopped,
        "trials_failed": outcome.failed,
        "trials_unfinished": outcome.unfinished,
    }
    metrics = [Metric(k, float(v), now, 0) for k, v in counts.items()]
    tags = []
    if best is not None:
        metrics += [Metric(f"best_{m}", v, now, 0) for m, v in best["metrics"].items()]
        tags += [
            RunTag("best.run_id", best["run_id"]),
            RunTag("best.run_name", str(best["run_name"])),
        ]
        tags += [RunTag(f"best.{k}", str(v)) for k, v in best["config"].items()]
        values = " ".join(f"{k}={v}" for k, v in best["config"].items())
        score = best["metrics"][context.metric]
        name = f"{context.name} best {context.metric}={score:.3f} at {values}"
        tags.append(RunTag("mlflow.runName", name))  # visible in the runs table, collapsed
    client.log_batch(parent, metrics=metrics, tags=tags)
    with tempfile.TemporaryDirectory() as tmp:
        plot_objective(runs, context.keys, context.metric, Path(tmp) / "plots")
        client.log_artifacts(parent, str(Path(tmp) / "plots"), artifact_path="plots")
        if best is not None:
            (Path(tmp) / "best_config.json").write_text(json.dumps(best, indent=1))
            client.log_artifact(parent, str(Path(tmp) / "best_config.json"))
        wanted = ["tags.mlflow.runName", "run_id", "status", f"tags.{TAG_TRIAL}"]
        wanted += [f"tags.{TAG_STATUS}", f"tags.{TAG_STOPPED_AT}"]
        wanted += [f"metrics.{m}" for m in ("auc", "precision", "fps")]
        wanted += [f"params.{k}" for k in context.keys] + [f"tags.{TAG_ERROR}"]
        runs[[c for c in wanted if c in runs]].to_csv(Path(tmp) / "trials.csv", index=False)
        client.log_artifact(parent, str(Path(tmp) / "trials.csv"))
    client.log_artifact(parent, str(Path(context.experiment_dir) / SWEEP_JSON))
    if outcome.interrupted:
        status = "KILLED"
    else:
        status = "FINISHED" if best is not None else "FAILED"
    finish_run(client, parent, status)
    return best


def run_sweep(
    context: SweepContext,
    cfg: Config,
    *,
    resume: bool = False,
    max_concurrent: int | None = None,
    max_failures: int = 0,
    retry_failed: bool = False,
) -> tuple[SweepOutcome, dict[str, Any] | None]:
    """Run (or continue) the sweep on Ray (``ray.address``, else a local Ray), then log its
    summary on the parent run (:func:`finish_sweep`): the outcome and the best trial. The
    parent never stays RUNNING on an error; Ray's logs are copied into the sweep's folder."""
    from workflows.ray_runtime import init_ray, keep_ray_logs

    try:
        init_ray(cfg.ray.address)
        outcome = run_tuner(
            context,
            resume=resume,
            max_concurrent=max_concurrent,
            max_failures=max_failures,
            retry_failed=retry_failed,
            seed=cfg.seed,
        )
        return outcome, finish_sweep(context, outcome)
    except Exception:
        close_parent_run(context, "FAILED")  # not left RUNNING; --resume reopens it
        raise
    finally:
        keep_ray_logs(context.experiment_dir)
