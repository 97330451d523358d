"""A tiny phase-1 pretrain through Ray Train + MLflow, and loading its model in the tracker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.data.synthetic_det import generate_det
from gdt_core.network.images import frame_tensor
from gdt_core.network.network import WeightsError
from gdt_core.tracking.tracker import GDTTracker
from workflows.pretrain.pretrain_job import MODEL_ALIAS, run_pretrain
from workflows.pretrain.weights import resolve_weights

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def pretrained(ray_local, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("pretrain")
    det = generate_det(tmp / "det", 8, seed=1)
    cfg = load_config().replace(
        {
            "network.input_size": 67,
            "network.fc6_dim": 64,
            "network.fc7_dim": 16,
            "phase1.num_patches": 200,
            "phase1.iterations": 4,
            "phase1.batch_size": 16,
            "phase1.learning_rate": 0.01,
            "phase1.log_every": 2,
            "phase1.checkpoint_every": 2,
            "ray.patch_shards": 2,
            "mlflow.tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
        }
    )
    return cfg, run_pretrain(cfg, det_roots=[det], storage_dir=tmp / "work")


@pytest.fixture(scope="module")
def pretrained_fc(pretrained, tmp_path_factory: pytest.TempPathFactory):
    """fc mode on the same patch set, with a held-out split."""
    cfg, first = pretrained
    tmp = tmp_path_factory.mktemp("pretrain-fc")
    cfg = cfg.replace(
        {
            "phase1.train_layers": "fc",
            "phase1.holdout_fraction": 0.25,
            "phase1.eval_every": 2,
            "phase1.cache_dtype": "float32",
        }
    )
    patches = first.checkpoint.parents[2] / "patches"
    return cfg, run_pretrain(cfg, patches=patches, storage_dir=tmp / "work")


def test_run_records_config_metrics_manifest_and_model(pretrained) -> None:
    import mlflow

    cfg, result = pretrained
    uri = cfg.mlflow.tracking_uri
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["phase1.iterations"] == "4"
    assert set(cfg.flat()) <= set(run.data.params)
    assert [m.step for m in client.get_metric_history(result.run_id, "loss")] == [2, 4]
    assert {"accuracy", "patches_per_s"} <= set(run.data.metrics)
    assert run.data.metrics["patches_object"] == run.data.metrics["patches_background"] == 100
    assert run.data.metrics["skipped_records"] == 0
    arts = [a.path for a in client.list_artifacts(result.run_id, "patches")]
    assert arts == ["patches/manifest.json", "patches/object_patches_per_class.json"]
    name = cfg.mlflow.registered_model
    assert result.model_uri == f"models:/{name}/1"
    assert str(client.get_model_version_by_alias(name, MODEL_ALIAS).version) == "1"


def _features(tracker: GDTTracker, size: int) -> torch.Tensor:
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        return tracker.net(frame_tensor(image, tracker.cfg.network.mean, tracker.cfg.network.std))


@pytest.mark.parametrize("form", ["version", "alias", "run"])
def test_logged_model_loads_into_the_tracker_and_changes_features(
    pretrained, form: str, tmp_path: Path
) -> None:
    cfg, result = pretrained
    name = cfg.mlflow.registered_model
    spec = {
        "version": result.model_uri,
        "alias": f"models:/{name}@{MODEL_ALIAS}",
        "run": f"runs:/{result.run_id}/checkpoint",
    }[form]
    path = resolve_weights(spec, cfg.mlflow.tracking_uri, tmp_path)
    assert path.read_bytes() == result.checkpoint.read_bytes()
    size = cfg.network.input_size
    trained = _features(GDTTracker(cfg, weights=path), size)
    initial = _features(GDTTracker(cfg), size)  # the same seeded init training started from
    assert trained.shape == initial.shape == (1, 16)
    assert not torch.allclose(trained, initial)


def test_resolve_weights_errors_name_the_spec(pretrained, tmp_path: Path) -> None:
    cfg, _ = pretrained
    assert resolve_weights(None) is None
    with pytest.raises(WeightsError, match="nope.pt"):
        resolve_weights(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="models:/no-such-model/1"):
        resolve_weights("models:/no-such-model/1", cfg.mlflow.tracking_uri)


def test_fc_mode_logs_heldout_curves_and_data_and_its_model_tracks(
    pretrained_fc, tmp_path: Path
) -> None:
    import mlflow

    cfg, result = pretrained_fc
    client = mlflow.MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.params["phase1.train_layers"] == "fc"
    for name in ("heldout_loss", "heldout_accuracy"):
        assert [m.step for m in client.get_metric_history(result.run_id, name)] == [2, 4]
    assert 0 < run.data.metrics["heldout_accuracy"] <= 1
    assert run.data.metrics["feature_cache_seconds"] > 0
    assert run.data.metrics["patches_positive_fraction"] == 0.5
    assert run.data.metrics["patches_object.det"] == 100  # the one source, named by its folder
    arts = {a.path for a in client.list_artifacts(result.run_id, "patches")}
    assert "patches/object_patches_per_class.json" in arts
    path = resolve_weights(result.model_uri, cfg.mlflow.tracking_uri, tmp_path)
    trained, initial = GDTTracker(cfg, weights=path).net, GDTTracker(cfg).net
    for a, b in zip(trained.features.parameters(), initial.features.parameters(), strict=True):
        assert torch.equal(a, b)  # convolutions frozen
    assert not torch.equal(trained.fc6.weight, initial.fc6.weight)


def _ray_train_worker_pid() -> int | None:
    """The live Ray Train worker of this session's Ray (read from its GCS: the state API
    needs the dashboard, which the tests' Ray runs without)."""
    from ray._private import state

    alive = [
        a["Pid"]
        for a in state.actors().values()
        if a["ActorClassName"] == "RayTrainWorker" and a["State"] == "ALIVE" and a.get("Pid")
    ]
    return alive[0] if alive else None


def _registered_checkpoint(storage: Path) -> bool:
    """Whether Ray Train's controller has registered a checkpoint (its checkpoint manager's
    snapshot names one): a checkpoint folder alone may not be known to it yet."""
    import json

    for snapshot in storage.glob("ray_train/*/checkpoint_manager_snapshot.json"):
        try:
            if json.loads(snapshot.read_text()).get("latest_checkpoint_result"):
                return True
        except ValueError:  # being written
            pass
    return False


def test_a_killed_worker_resumes_where_it_stopped(pretrained, tmp_path: Path) -> None:
    """SIGKILL the Ray Train worker once it has checkpoints: Ray Train restarts it, it resumes
    from one (and logs from which step), and the network it ends with is exactly that of the
    same training never interrupted (run here, in-process, on one thread like the worker)."""
    import os
    import signal
    import threading
    import time

    import mlflow

    from gdt_core.network.network import build_network, load_pretrained
    from gdt_core.phase1.training import Phase1Training, training_pool

    base, first = pretrained
    cfg = base.replace(
        {
            "phase1.iterations": 300,
            "phase1.log_every": 10,
            "phase1.checkpoint_every": 10,
            "phase1.eval_every": 1000,
            "mlflow.tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }
    )
    patches = first.checkpoint.parents[2] / "patches"
    storage = tmp_path / "work"
    outcome: dict = {}

    def pretrain() -> None:
        try:
            outcome["result"] = run_pretrain(cfg, patches=patches, storage_dir=storage)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=pretrain)
    thread.start()
    killed = None
    deadline = time.monotonic() + 600  # bounds a failure only
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        if _registered_checkpoint(storage):  # one the restarted worker will be given
            killed = _ray_train_worker_pid()
            if killed is not None:
                os.kill(killed, signal.SIGKILL)
        thread.join(0.05)
    thread.join(600)
    assert killed is not None, "training ended before its worker could be killed"
    assert not thread.is_alive(), "training did not end within 600 s of the kill"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    client = mlflow.MlflowClient(cfg.mlflow.tracking_uri)
    assert client.get_run(result.run_id).info.status == "FINISHED"
    resumed = [m.value for m in client.get_metric_history(result.run_id, "resumed_from_step")]
    assert len(resumed) == 1 and resumed[0] >= 10  # from a checkpoint, not from step 0
    steps = [m.step for m in client.get_metric_history(result.run_id, "loss")]
    assert sorted(set(steps)) == list(range(10, 301, 10))  # every step logged, some twice
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Ray worker (one CPU)
    try:
        pool = training_pool(cfg, patches, "cpu", split="train")
        straight = Phase1Training(cfg, build_network(cfg.network, cfg.seed), pool, "cpu")
        for _ in straight.run():
            pass
    finally:
        torch.set_num_threads(threads)
    ended = load_pretrained(result.checkpoint, build_network(cfg.network, cfg.seed))
    for key, value in straight.model.net.state_dict().items():
        assert torch.equal(ended.state_dict()[key], value), key
