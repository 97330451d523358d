"""``gdt-flow ablation``: Table 1's eight variants as child runs of one MLflow parent run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from evaluation_data import make_otb_root

from gdt_core.config import load_config
from gdt_core.network.network import build_network, save_checkpoint
from workflows.cli import main
from workflows.evaluate.ablation import VARIANTS

pytestmark = pytest.mark.ray

TINY = {  # a GDT small enough for 8 variants x 1 target x 6 frames in seconds
    "network.input_size": 67,
    "network.fc6_dim": 32,
    "network.fc7_dim": 16,
    "sampling.num_positives": 4,
    "sampling.num_negatives": 8,
    "sampling.first_frame_positives": 8,
    "sampling.first_frame_negatives": 16,
    "candidates.positions_per_scale": 4,
    "phase2.max_iterations": 2,
    "phase2.batch_size": 8,
    "tracker.pooled_target_size": 32,
    "tracker.torch_threads": 1,
}


def _weights(tmp_path: Path) -> tuple[Path, Path]:
    """A phase-1 style checkpoint (fc7 16-d) and a torchvision-format 'AlexNet' (fc7 32-d)."""
    cfg = load_config(overrides=TINY)
    objectness = save_checkpoint(build_network(cfg.network, seed=1), tmp_path / "phase1.pt")
    alexnet = build_network(cfg.replace({"network.feature": "pretrained_fc7"}).network, seed=2)
    names = {"fc6": "classifier.1", "fc7": "classifier.4"}
    state = {
        (names[k.split(".")[0]] + k[3:] if k.startswith("fc") else k): v
        for k, v in alexnet.state_dict().items()
    }
    torch.save(state, tmp_path / "alexnet.pth")
    return objectness, tmp_path / "alexnet.pth"


def test_ablation_runs_eight_variants_as_child_runs(ray_local, tmp_path: Path):
    from mlflow import MlflowClient

    root, table = make_otb_root(tmp_path / "data", frames=6)
    objectness, alexnet = _weights(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "ablation",
        "--otb-root",
        str(root),
        "--sequence-table",
        str(table),
        "--sequences",
        "SynA,SynB",
        "--out",
        str(tmp_path / "abl"),
        "--objectness-weights",
        str(objectness),
        "--pretrained-weights",
        str(alexnet),
        "--json",
        str(tmp_path / "ablation.json"),
        "--set",
        f"mlflow.tracking_uri={uri}",
        "--set",
        "mlflow.experiment=ablation-test",
    ]
    args += [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "0.841" in res.output and "pre-trained(no bp)" in res.output  # paper's Table 1

    report = json.loads((tmp_path / "ablation.json").read_text())
    rows = {row["key"]: row for row in report["variants"]}
    assert list(rows) == [v.key for v in VARIANTS]
    for v in VARIANTS:
        row = rows[v.key]
        assert row["failed"] == [] and 0 <= row["success"] <= 1
        assert row["feature_dim"] == (32 if v.feature == "pretrained_fc7" else 16)
        assert row["weights"] == str(objectness if v.weights == "objectness" else alexnet)

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(report["mlflow_run_id"])
    assert parent.data.tags["gdt.kind"] == "ablation"
    assert parent.data.metrics["GDT/auc"] == pytest.approx(rows["GDT"]["success"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(c.info.run_name for c in children) == sorted(v.key for v in VARIANTS)
    for child in children:
        v = next(x for x in VARIANTS if x.key == child.info.run_name)
        params = child.data.params
        assert params["phase2.enabled"] == str(v.phase2)
        assert params["online.backprop"] == str(v.backprop)
        assert params["network.feature"] == v.feature
        assert params["weights"] == rows[v.key]["weights"]
        assert child.data.metrics["auc"] == pytest.approx(rows[v.key]["success"])
        assert child.data.tags["gdt.variant"] == v.name
    # the parent spans its variants' evaluations, not the moment it was logged
    assert parent.info.start_time == min(c.info.start_time for c in children)
    assert parent.info.end_time == max(c.info.end_time for c in children)
    parent_files = {f.path for f in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/success_overall.png" in parent_files  # Fig. 2: the variants side by side


def test_ablation_with_no_target_scored_exits_non_zero(ray_local, tmp_path: Path):
    root, table = make_otb_root(tmp_path / "data", frames=6)
    (root / "SynA" / "groundtruth_rect.txt").write_text("1,2,3\n")
    objectness, _ = _weights(tmp_path)
    args = [
        "ablation", "--otb-root", str(root), "--sequence-table", str(table),
        "--sequences", "SynA", "--out", str(tmp_path / "abl"), "--variants", "GDT,GDT-nobp",
        "--objectness-weights", str(objectness),
        "--set", f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
    ]  # fmt: skip
    args += [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert "no variant scored a target" in res.output
