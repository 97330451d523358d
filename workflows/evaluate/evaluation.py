"""One evaluation: one tracker's one-pass evaluation (OPE) on a list of OTB targets, resumable.

The per-target step :func:`evaluate_target` is plain in-process Python (load the sequence, run
OPE, write the OTB result file atomically, score it, record the outcome); the Ray fan-out
(:mod:`workflows.evaluate.evaluate_job`) runs it inside actors and Ray Tune trials call
:func:`evaluate_targets` directly. Nothing here imports Ray or MLflow.

Run-directory layout (everything MLflow later logs comes from here, see ``gdt-flow log-run``)::

    <run_dir>/run.json              what was evaluated: tracker, weights, config, targets
    <run_dir>/<Label>/<Seq>.txt     results in OTB format (1-based x,y,w,h per tracked frame)
    <run_dir>/targets/<key>.json    one record per target: scores, fps, or the error

``key`` hashes the config (less its ``ray``/``mlflow`` sections, which do not change a box),
the tracker, the weights' content and the target name: a re-run with the same three skips the
targets already finished; a changed config or weights file computes them anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gdt_core.boxes import to_otb_file
from gdt_core.config import Config
from gdt_core.data.box_file import box_file_text
from gdt_core.data.otb import OTBDataError, load_sequence, sequence_table
from gdt_core.files import write_text_atomic
from gdt_core.metrics import benchmarks
from gdt_core.metrics.ope import score_sequence
from gdt_core.tracking.interface import FrameSource, Tracker, run_ope
from gdt_core.tracking.trackers import make_tracker

MANIFEST = "run.json"
TARGETS_DIR = "targets"
CORE_DIR = Path(__file__).resolve().parents[2] / "gdt_core"  # the algorithm's sources
RESULT_INDEPENDENT_SECTIONS = ("ray", "mlflow")
"""Config sections that cannot change a tracked box: left out of the target key."""

FrameHook = Callable[[str, int], None]
"""``hook(sequence, frame)`` called after each tracked frame (progress, tests' fault points)."""


@dataclass(frozen=True)
class EvaluationSpec:
    """What one evaluation runs: the tracker, its config and weights, and where the data is."""

    config: Config
    tracker: str = "gdt"
    weights: str | None = None  # a local file, or None = random initialisation
    weights_uri: str | None = None  # as the user gave it (path, runs:/..., models:/...)
    root: str = ""  # the data set's root: an OTB download, LaSOT's or GOT-10k's
    anno_dir: str | None = None
    label: str = ""  # the results folder / legend name; default: the tracker in capitals
    sequence_table: str | None = None  # a CSV like datasets/otb/sequences.csv; None = OTB-100
    dataset: str = "otb"  # otb | lasot | got10k (gdt_core.metrics.benchmarks)
    split: str = "val"  # GOT-10k's split under the root

    @property
    def name(self) -> str:
        return self.label or self.tracker.upper()


@dataclass
class TargetRecord:
    """The outcome of one target: scores and speed, or the error that stopped it."""

    sequence: str
    key: str
    status: str  # "done" | "failed"
    auc: float = float("nan")  # OTB's (and LaSOT's) success AUC and precision at 20 px
    precision: float = float("nan")
    scores: dict[str, float] = field(default_factory=dict)  # the data set's own scores
    fps: float = float("nan")
    frames: int = 0
    seconds: float = 0.0  # wall time of tracking (init + updates), image decoding excluded
    cpu_seconds: float = 0.0  # this process's CPU time over the whole target (decoding too)
    result_file: str | None = None  # relative to the run directory
    result_sha256: str | None = None
    error: str | None = None
    traceback: str | None = None
    worker: str = field(default_factory=lambda: f"pid {os.getpid()}")
    actor_restarted: bool = False
    started_ms: int = 0  # wall clock (Unix ms) when the target began and ended: the MLflow
    finished_ms: int = 0  # run's start and end times, however much later it is logged

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass
class EvaluationResult:
    """All targets of one evaluation, in the order asked; the data set's scores over the done ones.

    ``auc``/``precision`` are the OTB data-set scores (mean of the targets' curves = mean of
    their scores); ``fps`` is the mean of the targets' frames/s (the benchmark's convention).
    """

    run_dir: Path
    label: str
    records: list[TargetRecord]
    resumed: list[str] = field(default_factory=list)  # targets found finished on disk
    missing: list[str] = field(default_factory=list)  # targets absent from the OTB root

    @property
    def done(self) -> list[TargetRecord]:
        return [r for r in self.records if r.done]

    @property
    def failed(self) -> list[TargetRecord]:
        return [r for r in self.records if not r.done]

    def _mean(self, attr: str) -> float:
        values = [getattr(r, attr) for r in self.done]
        return float(np.mean(values)) if values else float("nan")

    @property
    def auc(self) -> float:
        return self._mean("auc")

    @property
    def precision(self) -> float:
        return self._mean("precision")

    @property
    def fps(self) -> float:
        return self._mean("fps")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(weights: str | Path | None) -> str:
    """What identifies the weights in a target key: their content hash, or random init."""
    if weights is None:
        return "random-init"
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    return f"sha256:{file_sha256(path)}"


@lru_cache(maxsize=1)
def code_fingerprint(package: Path = CORE_DIR) -> str:
    """16 hex digits of the tracking code: every ``.py`` under ``package`` (``gdt_core``,
    paths and bytes) plus the versions of OpenCV and torch, which the trackers run on. A
    result is reused only by the code that made it."""
    import cv2
    import torch

    digest = hashlib.sha256(f"cv2 {cv2.__version__} torch {torch.__version__}".encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def target_key(cfg: Config, tracker: str, weights_id: str, sequence: str) -> str:
    """16 hex digits naming one (code, config, tracker, weights, target) combination."""
    config = {k: v for k, v in cfg.to_dict().items() if k not in RESULT_INDEPENDENT_SECTIONS}
    payload = json.dumps(
        {
            "code": code_fingerprint(),
            "config": config,
            "tracker": tracker,
            "weights": weights_id,
            "sequence": sequence,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_path(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / TARGETS_DIR / f"{key}.json"


def read_record(run_dir: Path, key: str) -> TargetRecord | None:
    """The stored record of ``key``, or None when absent or unreadable."""
    path = record_path(run_dir, key)
    try:
        return TargetRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_record(run_dir: Path, record: TargetRecord) -> None:
    write_text_atomic(record_path(run_dir, record.key), json.dumps(asdict(record), indent=1))


def finished_record(run_dir: Path, key: str) -> TargetRecord | None:
    """The record of ``key`` if that target is done and its result file is intact on disk."""
    record = read_record(run_dir, key)
    if record is None or not record.done or record.result_file is None:
        return None
    result = Path(run_dir) / record.result_file
    if not result.is_file() or file_sha256(result) != record.result_sha256:
        return None
    return record


def missing_targets(
    otb_root: str | Path, names: Iterable[str], table_path: str | Path | None = None
) -> list[str]:
    """Targets whose image folder is absent from ``otb_root`` (a partial OTB copy)."""
    table = sequence_table(table_path)
    return [n for n in names if not (Path(otb_root) / table[n].img_dir / "img").is_dir()]


def load_target(spec: EvaluationSpec, sequence: str) -> FrameSource:
    """Target ``sequence`` of ``spec``'s data set (OTB through its sequence table)."""
    if spec.dataset == "otb":
        table = sequence_table(spec.sequence_table)
        return load_sequence(spec.root, sequence, anno_dir=spec.anno_dir, table=table)
    return benchmarks.load_video(spec.dataset, spec.root, spec.split, sequence)


def target_scores(spec: EvaluationSpec, seq: FrameSource, boxes: np.ndarray) -> dict[str, float]:
    """One target's scores: OTB's AUC and precision, or the data set's own."""
    if spec.dataset == "otb":
        curves = score_sequence(seq.ground_truth, boxes)
        return {"auc": curves.auc, "precision": curves.precision_score}
    return benchmarks.video_scores(spec.dataset, seq, boxes)


def result_relpath(spec: EvaluationSpec, sequence: str) -> str:
    """The result file in the run directory, where the data set's tools put it."""
    if spec.dataset == "otb":
        return f"{spec.name}/{sequence}.txt"
    return benchmarks.result_relpath(spec.dataset, spec.name, sequence)


def result_text(spec: EvaluationSpec, boxes: np.ndarray) -> str:
    """0-based boxes as the data set's result files hold them (OTB, LaSOT: 1-based)."""
    if spec.dataset == "otb":
        return box_file_text(to_otb_file(boxes))
    return benchmarks.result_text(spec.dataset, boxes)


def missing_in(spec: EvaluationSpec, names: Iterable[str]) -> list[str]:
    """The targets absent from ``spec``'s data root (a partial copy)."""
    if spec.dataset == "otb":
        return missing_targets(spec.root, names, spec.sequence_table)
    return benchmarks.missing_sequences(spec.dataset, spec.root, spec.split, list(names))


def evaluate_target(
    spec: EvaluationSpec,
    sequence: str,
    run_dir: str | Path,
    key: str,
    tracker: Tracker | None = None,
    on_frame: FrameHook | None = None,
    worker: str | None = None,
    actor_restarted: bool = False,
) -> TargetRecord:
    """OPE of ``spec``'s tracker on one target; the record is also written under ``run_dir``.

    Any error of this target (bad data, a tracker exception) becomes a ``failed`` record with
    the message and traceback; the caller's other targets are not affected. ``tracker`` is
    the tracker to (re)use (``init`` resets it; default: made from ``spec``); ``worker`` and
    ``actor_restarted`` describe where it ran (stored in the record).
    """
    run_dir = Path(run_dir)
    relative = result_relpath(spec, sequence)
    started_ms = int(time.time() * 1000)
    try:
        seq = load_target(spec, sequence)
        if tracker is None:
            tracker = make_tracker(spec.tracker, spec.config, spec.weights)
        progress = None if on_frame is None else (lambda i, _n: on_frame(sequence, i))
        cpu_start = time.process_time()
        result = run_ope(tracker, seq, progress=progress)
        cpu = time.process_time() - cpu_start
        scores = target_scores(spec, seq, result.boxes)
        out = run_dir / relative
        write_text_atomic(out, result_text(spec, result.boxes))
        record = TargetRecord(
            sequence=sequence,
            key=key,
            status="done",
            auc=scores.get("auc", float("nan")),
            precision=scores.get("precision", float("nan")),
            scores=scores,
            fps=float(result.fps),
            frames=len(result.boxes),
            seconds=float(result.seconds),
            cpu_seconds=cpu,
            result_file=relative,
            result_sha256=file_sha256(out),
        )
    except Exception as exc:  # noqa: BLE001 -- one broken target must not stop the others
        record = TargetRecord(
            sequence=sequence,
            key=key,
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    record.actor_restarted = actor_restarted
    record.started_ms, record.finished_ms = started_ms, int(time.time() * 1000)
    if worker:
        record.worker = worker
    write_record(run_dir, record)
    return record


def _reusable_tracker(spec: EvaluationSpec) -> Tracker | None:
    """One tracker for all targets (weights loaded once; ``init`` resets it per target).

    None when it cannot be made: each target then records the error itself.
    """
    try:
        return make_tracker(spec.tracker, spec.config, spec.weights)
    except Exception:  # noqa: BLE001 -- evaluate_target retries and records the error
        return None


def write_manifest(
    spec: EvaluationSpec, run_dir: Path, sequences: list[str], missing: list[str], **extra: Any
) -> dict[str, Any]:
    """``run.json``: everything needed to score and log the run later (``gdt-flow log-run``)."""
    manifest = {
        "tracker": spec.tracker,
        "label": spec.name,
        "weights_uri": spec.weights_uri or spec.weights,
        "weights_path": spec.weights,
        "otb_root": str(Path(spec.root).resolve()),  # the data set's root, by its old name
        "anno_dir": str(Path(spec.anno_dir).resolve()) if spec.anno_dir else None,
        "sequence_table": str(Path(spec.sequence_table).resolve()) if spec.sequence_table else None,
        "dataset": spec.dataset,
        "split": spec.split if spec.dataset == "got10k" else None,
        "sequences": sequences,
        "missing": missing,
        "config": spec.config.to_dict(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    write_text_atomic(Path(run_dir) / MANIFEST, json.dumps(manifest, indent=1, default=str))
    return manifest


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of an evaluation directory, with a clear error when it is not one."""
    path = Path(run_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise OTBDataError(f"{path}: not an evaluation directory (no {MANIFEST})") from None
    except ValueError as exc:
        raise OTBDataError(f"{path}: unreadable manifest ({exc})") from None


def plan_targets(
    spec: EvaluationSpec, sequences: list[str], run_dir: Path
) -> tuple[dict[str, str], dict[str, TargetRecord]]:
    """Keys of every target, and the records of those already finished in ``run_dir``."""
    weights_id = weights_fingerprint(spec.weights)
    keys = {s: target_key(spec.config, spec.tracker, weights_id, s) for s in sequences}
    finished = {s: r for s, k in keys.items() if (r := finished_record(run_dir, k)) is not None}
    return keys, finished


def evaluate_targets(
    cfg: Config,
    targets: list[str],
    otb_root: str | Path,
    tracker: str,
    weights: str | Path | None,
    out_dir: str | Path,
    *,
    anno_dir: str | Path | None = None,
    label: str = "",
    weights_uri: str | None = None,
    sequence_table: str | Path | None = None,
    on_frame: FrameHook | None = None,
    on_record: Callable[[TargetRecord], None] | None = None,
) -> EvaluationResult:
    """In-process evaluation of ``targets`` (no Ray), in their order: skips finished targets,
    records failures; ``on_record`` gets each target's record as it is there (found finished
    or just run).

    Targets absent from ``otb_root`` are skipped and listed in ``missing``. This is what a
    Ray Tune trial calls; ``gdt-flow evaluate`` fans the same per-target step out on actors.
    """
    spec = EvaluationSpec(
        config=cfg,
        tracker=tracker,
        weights=str(weights) if weights is not None else None,
        weights_uri=weights_uri,
        root=str(otb_root),
        anno_dir=str(anno_dir) if anno_dir is not None else None,
        label=label,
        sequence_table=str(sequence_table) if sequence_table is not None else None,
    )
    run_dir = Path(out_dir)
    missing = missing_in(spec, targets)
    present = [s for s in targets if s not in missing]
    keys, finished = plan_targets(spec, present, run_dir)
    write_manifest(spec, run_dir, present, missing, keys=keys)
    todo = [s for s in present if s not in finished]
    shared = _reusable_tracker(spec) if todo else None
    records = []
    for s in present:
        records.append(
            finished.get(s) or evaluate_target(spec, s, run_dir, keys[s], shared, on_frame)
        )
        if on_record is not None:
            on_record(records[-1])
    return EvaluationResult(run_dir, spec.name, records, resumed=sorted(finished), missing=missing)
