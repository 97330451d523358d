"""Ray fan-out of an evaluation: one tracking actor per concurrently running target.

At most ``max_actors`` actors (resources from the config's ``ray`` section) each load the
weights once and run the per-target step of :mod:`workflows.evaluate.evaluation` on one target after
another, longest first. Fault tolerance comes from Ray: an actor that dies mid-sequence is
restarted (``ray.max_restarts``) and its pending call re-run (``ray.max_task_retries``); the
per-target step is idempotent (atomic files keyed by config, weights and target). An actor
that dies beyond its restarts marks its target failed and is replaced; other targets go on.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import ray

from gdt_core.config import Config
from gdt_core.data.otb import sequence_table
from gdt_core.files import write_text_atomic
from gdt_core.tracking.trackers import GDT_TRACKERS, make_tracker
from workflows.evaluate.evaluation import (
    EvaluationResult,
    EvaluationSpec,
    FrameHook,
    TargetRecord,
    evaluate_target,
    missing_in,
    plan_targets,
    write_manifest,
    write_record,
)


@ray.remote
class TrackingActor:
    """Runs targets one after another; builds its tracker (and loads the weights) once per
    evaluation spec, at its first target, so an ablation's or a sweep's next spec reuses the
    warm process. The constructor takes nothing from the object store (the weights come with
    each ``run`` call, whose arguments Ray keeps for its retries): a restarted actor can
    always be rebuilt."""

    def __init__(self, on_frame: FrameHook | None = None) -> None:
        self._spec: EvaluationSpec | None = None
        self._on_frame = on_frame
        self._at = ("", 0)  # (target, frames done): read by progress() during run()
        context = ray.get_runtime_context()
        self._worker = (
            f"{socket.gethostname()} node {context.get_node_id()} pid {os.getpid()} "
            f"actor {context.get_actor_id()}"
        )
        with warnings.catch_warnings():  # Ray's own property warns about its actor_id use
            warnings.simplefilter("ignore", DeprecationWarning)
            self._restarted = bool(context.was_current_actor_reconstructed)

    def _load(self, spec: EvaluationSpec, weights_blob: list | None) -> None:
        import cv2

        cfg = spec.config
        threads = cfg.tracker.torch_threads or max(1, round(cfg.ray.actor_num_cpus))
        cv2.setNumThreads(threads)
        if spec.tracker in GDT_TRACKERS:
            import torch

            torch.set_num_threads(threads)
        self._spec = spec
        self._local = replace(spec, weights=self._local_weights(spec.weights, weights_blob))
        try:  # the weights are loaded once; init() resets the tracker for every target
            self._tracker = make_tracker(spec.tracker, spec.config, self._local.weights)
        except Exception:  # noqa: BLE001 -- evaluate_target retries it and records the error
            self._tracker = None

    @staticmethod
    def _local_weights(path: str | None, blob: list | None) -> str | None:
        """The weights file on this node: the driver's path if visible here, else a copy."""
        if path is None or Path(path).is_file() or not blob:
            return path
        data = ray.get(blob[0])
        handle, local = tempfile.mkstemp(prefix="gdt-weights-", suffix=Path(path).suffix)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return local

    def _frame_done(self, sequence: str, frame: int) -> None:
        self._at = (sequence, frame)
        if self._on_frame is not None:
            self._on_frame(sequence, frame)

    def progress(self) -> tuple[str, int]:
        """The running target and its frames done (answered while ``run`` works: the actor
        runs two calls at once, see ``TrackingPool``)."""
        return self._at

    def ready(self) -> float:
        """Wall-clock time at which this actor's process was up (for the start-up overhead;
        the tracker and its weights are built at the first target)."""
        return time.time()

    def run(
        self, spec: EvaluationSpec, weights_blob: list | None, run_dir: str, sequence: str, key: str
    ) -> tuple[TargetRecord, str | None]:
        """The per-target step: its record and the OTB result file's text (None if failed).

        Errors come back as a failed record, never as a raise. The result travels back with
        the record, so the driver holds every finished target even when this node's disk is
        not the driver's (a cluster without shared storage) or this node dies afterwards.
        """
        if spec != self._spec:
            self._load(spec, weights_blob)
        local_dir = Path(run_dir) if Path(run_dir).is_dir() else _scratch_dir(run_dir)
        record = evaluate_target(
            self._local,
            sequence,
            local_dir,
            key,
            tracker=self._tracker,
            on_frame=self._frame_done,
            worker=self._worker,
            actor_restarted=self._restarted,
        )
        text = (local_dir / record.result_file).read_text() if record.done else None
        return record, text


def _scratch_dir(run_dir: str) -> Path:
    """A node-local stand-in for a run directory that does not exist on this node."""
    digest = hashlib.sha256(run_dir.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "gdt-flow-actor-runs" / digest


def land_result(run_dir: Path, record: TargetRecord, text: str | None) -> None:
    """Write an actor's result file and record into the driver's ``run_dir`` (idempotent)."""
    if text is not None and record.result_file is not None:
        out = run_dir / record.result_file
        if not out.is_file() or out.read_text() != text:
            write_text_atomic(out, text)
    write_record(run_dir, record)


def _actor_died(sequence: str, key: str, error: Exception) -> TargetRecord:
    return TargetRecord(
        sequence=sequence,
        key=key,
        status="failed",
        error=f"tracking actor died beyond its restarts: {type(error).__name__}: {error}",
        worker="driver",
    )


class TrackingPool:
    """At most ``max_actors`` tracking actors, kept between evaluations (an ablation's eight
    variants, a benchmark's runs) so that later evaluations skip the actors' start-up.

    Resources, restarts and retries come from ``cfg.ray``; ``on_frame`` is the frame hook
    every actor calls (tests' fault points). ``startup`` lists each started actor's start-up
    time in seconds (creation to ready: process and imports).
    """

    def __init__(
        self,
        cfg: Config,
        max_actors: int | None = None,
        on_frame: FrameHook | None = None,
        on_progress: FrameHook | None = None,
    ):
        self.max_actors = max_actors or cfg.ray.max_actors
        self.on_frame = on_frame
        self.on_progress = on_progress  # (target, frames done) every ray.progress_every_s
        self.progress_every = cfg.ray.progress_every_s
        self.startup: list[float] = []
        self._idle: list = []
        self._ready: dict = {}  # ready ref -> creation time
        self._options = {
            "num_cpus": cfg.ray.actor_num_cpus,
            "num_gpus": cfg.ray.actor_num_gpus,
            "max_restarts": cfg.ray.max_restarts,
            "max_task_retries": cfg.ray.max_task_retries,
            "max_concurrency": 2,  # progress() answers while run() tracks
        }

    def _start(self):
        created = time.time()
        actor = TrackingActor.options(**self._options).remote(self.on_frame)
        self._ready[actor.ready.remote()] = created
        return actor

    def _report_progress(self, in_flight: dict) -> None:
        """Ask each busy actor where it is; ``on_progress`` for the ones that answer."""
        asked = {actor.progress.remote(): sequence for actor, sequence in in_flight.values()}
        for ref, sequence in asked.items():
            try:
                at, frames = ray.get(ref, timeout=PROGRESS_TIMEOUT_S)
            except (ray.exceptions.RayError, TimeoutError):
                continue  # a dying or restarting actor: its record will say
            if at == sequence and frames:
                self.on_progress(sequence, frames)

    def _collect_startup(self) -> None:
        for ref, created in list(self._ready.items()):
            try:
                self.startup.append(ray.get(ref, timeout=0) - created)
            except (ray.exceptions.RayError, TimeoutError):
                continue
            del self._ready[ref]

    def run(
        self,
        spec: EvaluationSpec,
        todo: deque,
        keys: dict[str, str],
        run_dir: Path,
        on_record: Callable[[TargetRecord, int, int], None] | None = None,
    ) -> dict[str, TargetRecord]:
        """Run the targets of ``todo`` (in order) on the actors; their records by name."""
        blob = [ray.put(Path(spec.weights).read_bytes())] if spec.weights else None
        count = min(self.max_actors, len(todo))
        idle = self._idle[:count]
        for spare in self._idle[count:]:
            ray.kill(spare, no_restart=True)
        idle += [self._start() for _ in range(count - len(idle))]
        self._idle = []
        in_flight: dict = {}
        records: dict[str, TargetRecord] = {}
        total = len(todo)
        while todo or in_flight:
            while idle and todo:
                actor, sequence = idle.pop(), todo.popleft()
                ref = actor.run.remote(spec, blob, str(run_dir), sequence, keys[sequence])
                in_flight[ref] = (actor, sequence)
            if not todo:  # release idle actors: an actor restarting after a node loss may
                for spare in idle:  # need their CPUs/GPUs to run its retried target
                    ray.kill(spare, no_restart=True)
                idle.clear()
            wait = self.progress_every if self.on_progress is not None else None
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=wait)
            if not ready:
                self._report_progress(in_flight)
                continue
            (ref,) = ready
            actor, sequence = in_flight.pop(ref)
            try:
                record, text = ray.get(ref)
                land_result(run_dir, record, text)
                idle.append(actor)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                record = _actor_died(sequence, keys[sequence], exc)
                write_record(run_dir, record)
                ray.kill(actor, no_restart=True)
                if todo:
                    idle.append(self._start())
            records[sequence] = record
            if on_record is not None:
                on_record(record, len(records), total)
        self._idle = idle  # the last actor(s) to finish stay for the next evaluation
        self._collect_startup()
        return records

    def close(self) -> None:
        """Stop the kept actors."""
        for actor in self._idle:
            ray.kill(actor, no_restart=True)
        self._idle = []


PROGRESS_TIMEOUT_S = 5.0  # how long a progress question may wait for its answer


def longest_first(spec: EvaluationSpec, sequences: list[str]) -> list[str]:
    """OTB targets longest first (from the sequence table), so that the last one to start is
    short; other data sets in the order given."""
    if spec.dataset != "otb":
        return sequences
    table = sequence_table(spec.sequence_table)
    return sorted(sequences, key=lambda s: table[s].num_frames, reverse=True)


def run_evaluation(
    spec: EvaluationSpec,
    sequences: list[str],
    run_dir: str | Path,
    *,
    max_actors: int | None = None,
    on_frame: FrameHook | None = None,
    on_record: Callable[[TargetRecord, int, int], None] | None = None,
    on_progress: FrameHook | None = None,
    manifest_extra: dict | None = None,
    pool: TrackingPool | None = None,
) -> tuple[EvaluationResult, list[float]]:
    """Evaluate ``sequences`` on Ray actors (Ray must be initialised); skip finished targets.

    Returns the result (records in the order of ``sequences``; targets absent from the OTB
    root listed in ``missing``) and the start-up times (s) of the actors started for it.
    ``on_record(record, finished, total)`` is called as targets finish, ``on_progress(target,
    frames done)`` for each running target every ``ray.progress_every_s``. ``pool`` keeps
    actors for later evaluations (then ``max_actors``/``on_frame``/``on_progress`` are the
    pool's); without one, a pool lives for this call only.
    """
    run_dir = Path(run_dir).resolve()
    missing = missing_in(spec, sequences)
    present = [s for s in sequences if s not in missing]
    keys, finished = plan_targets(spec, present, run_dir)
    write_manifest(spec, run_dir, present, missing, keys=keys, **(manifest_extra or {}))
    todo = deque(longest_first(spec, [s for s in present if s not in finished]))
    records: dict[str, TargetRecord] = dict(finished)
    own = pool is None
    pool = pool or TrackingPool(spec.config, max_actors, on_frame, on_progress)
    started = len(pool.startup)
    try:
        if todo:
            records.update(pool.run(spec, todo, keys, run_dir, on_record))
    finally:
        if own:
            pool.close()
    result = EvaluationResult(
        run_dir=run_dir,
        label=spec.name,
        records=[records[s] for s in present],
        resumed=sorted(finished),
        missing=missing,
    )
    return result, pool.startup[started:]
