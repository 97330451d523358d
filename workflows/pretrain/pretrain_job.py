"""Phase-1 pretraining (section 3.2, "obj-general") on Ray Train, recorded in MLflow.

One ``gdt-flow pretrain`` = one MLflow run:

* driver: resolves the tracking URI, creates the experiment and the run (params = the whole
  config, ``cfg.flat()``), builds the patches if given a DET root (Ray tasks,
  :mod:`workflows.pretrain.patches_job`), logs the patch manifest and skipped-record counts, runs
  :class:`ray.train.torch.TorchTrainer` and, at the end, logs the trained network;
* ``phase1.train_layers=conv5|fc``: before training, Ray tasks compute every patch's conv4
  (or pool5) once with the initial convolutions (:mod:`workflows.pretrain.cache_job`,
  resumable);
* workers (DDP over ``ray.train_workers``, on GPUs with ``ray.use_gpu``) run
  :class:`gdt_core.phase1.training.Phase1Training`: ALL layers fine-tuned (``all``, the paper;
  on a GPU the patches resident in its memory, bf16, compiled) or the layers above the cached
  features, with the objectness objective, SGD with ``phase1.*``, on the patches of the
  training images (``phase1.holdout_fraction`` of the source images held out); the global
  batch ``phase1.batch_size`` is split across workers; every ``phase1.log_every`` steps rank 0
  logs loss, accuracy and patches/s (all-reduced) to the run, every ``phase1.eval_every``
  steps ``heldout_loss`` / ``heldout_accuracy`` (all held-out patches, dropout off), and every
  ``phase1.checkpoint_every`` steps (and at the end) a checkpoint goes through
  ``ray.train.report`` (``gdt_net.pt`` = network, ``train_state.pt`` = head + optimizer +
  step): a restarted worker resumes from it exactly where the run was, and logs
  ``resumed_from_step``.

The model: ``mlflow.pytorch.log_model`` with ``serialization_format="pt2"`` (MLflow 3's
default; a ``torch.export`` graph, no pickled code) of the GDTNet feature extractor (conv1 to
fc7, the objectness head dropped), traced from a zero ``(2, 3, S, S)`` input example (the
batch dimension stays dynamic; pip requirements are given, not inferred); its
weights-only checkpoint ``gdt_net.pt`` rides along as an extra file, which is what
:func:`workflows.pretrain.weights.resolve_weights` hands to the tracker. The model is registered
under ``mlflow.registered_model``; the new version gets the alias ``MODEL_ALIAS`` (aliases, not the
deprecated stages).

Storage: ``storage_dir`` (absolute) holds Ray Train's run directories and, by default, the
patches; on a cluster it (and ``--init``) must be on storage every node sees.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gdt_core.config import Config, from_dict
from gdt_core.data.det_sources import data_sets
from gdt_core.network.network import build_network, load_pretrained, save_checkpoint
from gdt_core.phase1.objectness import SamplePool
from gdt_core.phase1.patches import MANIFEST, read_manifest
from gdt_core.phase1.training import Phase1Training, load_state, training_pool
from workflows.pretrain.cache_job import build_feature_cache
from workflows.pretrain.patches_job import build_patches
from workflows.pretrain.weights import CHECKPOINT_NAME, resolve_weights, use_tracking_uri
from workflows.pretrain.weights_fetch import weights_name
from workflows.ray_runtime import init_ray
from workflows.runs.mlflow_store import (
    log_params,
    reachable_experiment,
    resolve_tracking_uri,
    version_tags,
)

MODEL_ALIAS = "latest-pretrain"
MODEL_NAME = "model"  # the MLflow model's name inside the run


@dataclass(frozen=True)
class PretrainResult:
    """Where the pretrained network ended up."""

    run_id: str
    model_uri: str  # models:/<name>/<version>
    checkpoint: Path  # local copy of gdt_net.pt
    final_metrics: dict[str, float]


def _pools(cfg: Config, config: dict[str, Any], device: Any, rank: int, world: int) -> tuple:
    """This worker's training pool and held-out pool (``None`` when it holds none)."""

    def pool(split: str) -> SamplePool:
        patches, cache = config["patches"], config["feature_cache"]
        return training_pool(cfg, patches, device, rank, world, split, cache)

    if cfg.phase1.holdout_fraction == 0:
        return pool("all"), None
    try:
        held = pool("heldout")
    except ValueError:  # a small patch set may leave a worker no held-out image
        held = None
    return pool("train"), held


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: DDP fine-tuning (all layers, or the layers above the cached
    features) on its share of the training patches (:class:`Phase1Training`)."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    cfg = from_dict(config["cfg"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    net = build_network(cfg.network, cfg.seed)
    if config["init"]:
        load_pretrained(config["init"], net)
    state = None
    resume = ray.train.get_checkpoint()  # set when Ray Train restarts after a failure
    if resume:
        with resume.as_directory() as d:
            state = load_state(d)
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(cfg.phase1.worker_cpus)
    pool, heldout = _pools(cfg, config, device, rank, world)

    def all_reduce(totals: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(totals)
        return totals

    training = Phase1Training(
        cfg,
        net,
        pool,
        device,
        rank,
        world,
        state,
        wrap=ray.train.torch.prepare_model,
        reduce=all_reduce if world > 1 else None,
    )
    client = MlflowClient(config["tracking_uri"]) if rank == 0 else None
    if client is not None and state is not None:  # restarted after a failure: say where from
        client.log_metric(config["run_id"], "resumed_from_step", training.step, step=training.step)
    for due in training.run():
        metrics = training.window_metrics()
        if due.evaluate:
            metrics.update(training.heldout_metrics(heldout))
        if client is not None:
            now = int(time.time() * 1000)
            batch = [Metric(k, v, now, due.step) for k, v in metrics.items()]
            client.log_batch(config["run_id"], metrics=batch)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if due.save and rank == 0:
                save_checkpoint(training.model.net, Path(tmp) / CHECKPOINT_NAME, {"step": due.step})
                training.save_state(tmp)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report({**metrics, "step": due.step}, checkpoint=checkpoint)


def _log_model(cfg: Config, checkpoint: Path, run_id: str) -> str:
    """Log + register the trained GDTNet (pt2) with its weights-only checkpoint; model URI."""
    import mlflow

    net = load_pretrained(checkpoint, build_network(cfg.network, cfg.seed)).eval()
    size = cfg.network.input_size
    info = mlflow.pytorch.log_model(
        net,
        name=MODEL_NAME,
        serialization_format="pt2",
        input_example=np.zeros((2, 3, size, size), dtype=np.float32),  # batch 1 would be
        extra_files=[str(checkpoint)],  # specialised by torch.export (0/1 specialisation)
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
        registered_model_name=cfg.mlflow.registered_model,
    )
    version = info.registered_model_version
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(cfg.mlflow.registered_model, MODEL_ALIAS, version)
    client.set_tag(run_id, "gdt.model_uri", f"models:/{cfg.mlflow.registered_model}/{version}")
    return f"models:/{cfg.mlflow.registered_model}/{version}"


def _patches(cfg: Config, det_roots: Sequence[str | Path], patch_dir: Path, split: str) -> dict:
    """Build (or resume) the patch set from ``det_roots``, or read an existing one."""
    if det_roots:
        manifest = build_patches(cfg, det_roots, patch_dir, seed=cfg.seed, split=split)
    else:
        manifest = read_manifest(patch_dir)
    built = manifest["params"]["input_size"]
    if built != cfg.network.input_size:
        raise ValueError(
            f"{patch_dir}: patches are {built} px, network.input_size is "
            f"{cfg.network.input_size}: rebuild the patches or change the config"
        )
    return manifest


def _log_inputs(
    client: Any, run_id: str, cfg: Config, init: str | None, patch_dir: Path, manifest: dict
) -> None:
    """Tags, the whole config as params, the patch manifest and its counts."""
    from mlflow.entities import Metric, RunTag

    tags = {"gdt.command": "pretrain", **version_tags()}
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    log_params(client, run_id, {**cfg.flat(), "init": weights_name(init) if init else "random"})
    client.log_artifact(run_id, str(patch_dir / MANIFEST), "patches")
    n_obj, n_bg = manifest["counts"]["object"], manifest["counts"]["background"]
    counts = {
        "patches_object": n_obj,
        "patches_background": n_bg,
        "patches_positive_fraction": n_obj / max(n_obj + n_bg, 1),
        "skipped_records": manifest["skipped_count"],
    }
    for kind, field in (("object", "positives_per_source"), ("background", "negatives_per_source")):
        for source, n in manifest.get(field, {}).items():
            counts[f"patches_{kind}.{_metric_key(source)}"] = n
    table = {
        "class": list(manifest["positives_per_name"]),
        "patches": list(manifest["positives_per_name"].values()),
    }
    client.log_table(run_id, table, "patches/object_patches_per_class.json")
    for reason, n in manifest["skipped_by_reason"].items():
        counts[f"skipped.{reason.replace(' ', '_')}"] = n
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in counts.items()])


def _metric_key(name: str) -> str:
    """A source or class name as an MLflow metric-name part (letters, digits, ``_-. /``)."""
    return re.sub(r"[^\w\-. /]", "_", name) or "unnamed"


def _trainer(cfg: Config, storage: Path, loop_config: dict[str, Any]) -> Any:
    import ray.train
    from ray.train.torch import TorchTrainer

    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.ray.train_workers,
            use_gpu=cfg.ray.use_gpu,
            resources_per_worker={"CPU": cfg.phase1.worker_cpus},  # GPU: use_gpu's one
        ),
        run_config=ray.train.RunConfig(
            name=f"pretrain-{loop_config['run_id']}",
            storage_path=str(storage / "ray_train"),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=cfg.ray.max_restarts),
        ),
    )


def run_pretrain(
    cfg: Config,
    det_roots: Sequence[str | Path] = (),
    patches: str | Path | None = None,
    init: str | None = None,
    storage_dir: str | Path = "gdt-flow-work",
    split: str = "train",
) -> PretrainResult:
    """Build patches if needed (pool5 too in ``fc`` mode), train on Ray Train, log everything
    to one MLflow run."""
    import mlflow

    if not det_roots and patches is None:
        raise ValueError("give a DET root (--det-root) or a built patch set (--patches)")
    storage = Path(storage_dir).resolve()
    patch_dir = Path(patches).resolve() if patches else storage / "patches"
    if not det_roots:
        read_manifest(patch_dir)  # fail before starting Ray and an MLflow run
    for root in det_roots:
        data_sets(root, split)
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    experiment_id = reachable_experiment(uri, cfg.mlflow.experiment)
    init_ray(cfg.ray.address)
    with (
        use_tracking_uri(uri),
        mlflow.start_run(experiment_id=experiment_id, run_name="pretrain") as run,
    ):
        run_id = run.info.run_id
        client = mlflow.MlflowClient(uri)
        manifest = _patches(cfg, det_roots, patch_dir, split)
        _log_inputs(client, run_id, cfg, init, patch_dir, manifest)
        init_path = resolve_weights(init, uri)
        init_file = str(init_path.resolve()) if init_path else None
        cache = None
        if cfg.phase1.train_layers != "all":
            start = time.perf_counter()
            cache = str(build_feature_cache(cfg, patch_dir, init_file))
            seconds = time.perf_counter() - start
            client.log_metric(run_id, "feature_cache_seconds", seconds, step=0)
        loop_config = {
            "cfg": cfg.to_dict(),
            "patches": str(patch_dir),
            "feature_cache": cache,
            "init": init_file,
            "run_id": run_id,
            "tracking_uri": uri,
        }
        result = _trainer(cfg, storage, loop_config).fit()
        if result.checkpoint is None:
            raise RuntimeError(f"pretrain run {run_id}: Ray Train returned no checkpoint")
        checkpoint = storage / "checkpoints" / run_id / CHECKPOINT_NAME
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        with result.checkpoint.as_directory() as d:
            shutil.copy2(Path(d) / CHECKPOINT_NAME, checkpoint)
        client.log_artifact(run_id, str(checkpoint), "checkpoint")
        model_uri = _log_model(cfg, checkpoint, run_id)
        final = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    return PretrainResult(run_id, model_uri, checkpoint, final)
