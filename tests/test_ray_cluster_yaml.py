"""``ray_cluster.yaml`` passes Ray's own cluster-config checks, exactly as ``ray up`` runs them.

``ray up`` (ray/autoscaler/_private/commands.py, ``_bootstrap_config``) calls ``prepare_config``
(defaults, merged setup commands, per-type min/max workers) and then ``validate_config``
(Ray's ray-schema.json plus the node-type checks). No cloud is contacted.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "ray_cluster.yaml"


def _validated(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture(scope="module")
def cluster_config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_ray_validation(cluster_config: dict) -> None:
    prepared = _validated(cluster_config)
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    gpu_types = [name for name, t in types.items() if t["resources"].get("GPU", 0) >= 1]
    assert head["resources"]["GPU"] == 0 and head["max_workers"] == 0
    assert gpu_types and all(types[name]["max_workers"] >= 1 for name in gpu_types)
    # setup_commands ran on both kinds of node, torch pinned before the project install
    for key in ("head_setup_commands", "worker_setup_commands"):
        commands = prepared[key]
        torch_at = next(i for i, c in enumerate(commands) if '"torch==' in c)
        project_at = next(i for i, c in enumerate(commands) if "pip install -q -e ~/gdt-flow" in c)
        assert torch_at < project_at


def test_cluster_yaml_security_and_mlflow(cluster_config: dict) -> None:
    head_start = " ".join(cluster_config["head_start_ray_commands"])
    worker_start = " ".join(cluster_config["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in head_start + worker_start
    assert "export MLFLOW_TRACKING_URI=http://" in head_start
    assert "export MLFLOW_TRACKING_URI=http://$RAY_HEAD_IP:5000" in worker_start
    assert "~/gdt-flow" in cluster_config["file_mounts"]


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("unknown_top_level_key", "'max_wokers' was unexpected"),
        ("head_type_missing", "head_node_type` must be one of"),
        ("resources_not_a_mapping", "'GPU=1' is not of type 'object'"),
        ("min_workers_above_max", "smaller than the sum of `min_workers`"),
    ],
)
def test_broken_cluster_config_is_rejected(
    cluster_config: dict, breakage: str, message: str
) -> None:
    broken = copy.deepcopy(cluster_config)
    gpu = broken["available_node_types"]["worker.gpu"]
    if breakage == "unknown_top_level_key":
        broken["max_wokers"] = 4
    elif breakage == "head_type_missing":
        broken["head_node_type"] = "head.gpu"
    elif breakage == "resources_not_a_mapping":
        gpu["resources"] = "GPU=1"
    elif breakage == "min_workers_above_max":
        gpu["min_workers"] = broken["max_workers"] + 1
    with pytest.raises(Exception, match=re.escape(message)):
        _validated(broken)
