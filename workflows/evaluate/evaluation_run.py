"""One OTB evaluation from a config: check the targets and weights, fan out, summarise.

What ``gdt-flow evaluate`` runs once and ``gdt-flow ablation`` once per variant. The
terminal is the caller's: messages go through ``say``/``warn`` and the per-target and
per-frame callbacks; a problem found before any tracking is an :class:`EvaluationSetupError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdt_core.config import Config
from workflows.evaluate.evaluate_job import TrackingPool, run_evaluation
from workflows.evaluate.evaluation import (
    EvaluationResult,
    EvaluationSpec,
    FrameHook,
    TargetRecord,
    code_fingerprint,
    missing_in,
    weights_fingerprint,
)
from workflows.evaluate.evaluation_summary import summarize_run, write_summary
from workflows.pretrain.weights import gdt_weights, resolve_weights
from workflows.runs.mlflow_store import code_version, resolve_tracking_uri

DEFAULT_RUNS_DIR = Path("runs") / "evaluate"


class EvaluationSetupError(Exception):
    """Targets or weights that make an evaluation impossible, found before it starts."""


@dataclass(frozen=True)
class EvaluationTargets:
    """Where the targets are: the data set and its root, the named targets, OTB's optional
    annotation folder and sequence table, and the result folders to plot beside this run."""

    root: str  # the data set's root (an OTB download, LaSOT's or GOT-10k's)
    sequences: list[str]
    anno_dir: str | None = None
    sequence_table: str | None = None
    compare_with: list[str] = field(default_factory=list)
    dataset: str = "otb"  # otb | lasot | got10k
    split: str = "val"  # GOT-10k's split


def default_run_dir(cfg_json: str, tracker: str, weights_id: str, label: str) -> Path:
    """``runs/evaluate/<label>-<hash>``: the same command on the same code resumes in the
    same directory; changed tracking code gets a new one (the old results stay)."""
    key = f"{cfg_json}|{tracker}|{weights_id}|{code_fingerprint()}"
    return DEFAULT_RUNS_DIR / f"{label}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _resolve(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def run_one_evaluation(
    cfg: Config,
    targets: EvaluationTargets,
    *,
    tracker: str,
    weights: str | None,
    run_dir: Path | None,
    label: str,
    strict: bool,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    on_record: Callable[[TargetRecord, int, int], None] | None = None,
    on_progress: FrameHook | None = None,
    attribute_plots: bool = True,
    pool: TrackingPool | None = None,
) -> tuple[EvaluationResult, dict[str, Any], list[float]]:
    """Resolve the weights, fan the targets out on Ray actors, score and summarise; returns
    (result, summary, actor start-up seconds). Ray must be initialised by the caller;
    ``pool`` keeps actors across evaluations. Missing targets are skipped with a warning
    (an :class:`EvaluationSetupError` with ``strict``)."""
    from gdt_core.network.network import WeightsError

    weights = gdt_weights(weights, tracker)
    try:
        local = resolve_weights(weights, resolve_tracking_uri(cfg.mlflow.tracking_uri))
        weights_id = weights_fingerprint(local)
    except (WeightsError, FileNotFoundError) as exc:
        raise EvaluationSetupError(str(exc)) from None
    spec = EvaluationSpec(
        config=cfg,
        tracker=tracker,
        weights=str(local) if local is not None else None,
        weights_uri=weights,
        root=str(Path(targets.root).resolve()),
        anno_dir=_resolve(targets.anno_dir),
        label=label,
        sequence_table=_resolve(targets.sequence_table),
        dataset=targets.dataset,
        split=targets.split,
    )
    missing = missing_in(spec, targets.sequences)
    if missing:
        message = f"{len(missing)} target(s) not under {targets.root}: {', '.join(missing)}"
        if strict:
            raise EvaluationSetupError(message + " (--strict)")
        warn(f"{message}; skipped")
    if run_dir is None:
        kept = {k: v for k, v in cfg.to_dict().items() if k not in ("ray", "mlflow")}
        run_dir = default_run_dir(json.dumps(kept, sort_keys=True), tracker, weights_id, spec.name)
    count = len(targets.sequences) - len(missing)
    say(f"evaluating {spec.name} on {count} target(s) -> {run_dir}")
    result, startup = run_evaluation(
        spec,
        targets.sequences,
        run_dir,
        on_record=on_record,
        on_progress=on_progress,
        pool=pool,
        manifest_extra={
            "compare_with": [str(Path(d).resolve()) for d in targets.compare_with],
            "code_version": code_version(),
        },
    )
    if result.resumed:
        say(f"resumed: {len(result.resumed)} target(s) already finished in {run_dir}")
    summary = summarize_run(result.run_dir, warn=warn, attribute_plots=attribute_plots)
    summary["actor_startup_s"] = startup
    write_summary(result.run_dir, summary)
    return result, summary, startup
