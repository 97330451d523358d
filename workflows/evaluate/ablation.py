"""The ablation study of section 4.1 / Table 1: eight variants of GDT, all with the same tracker.

Each variant is one evaluation (:mod:`workflows.evaluate.evaluation`) with different CNN weights and
switches:

=======================  ================  =========  =============  ==============
variant (Table 1)        weights           phase 2    online bp      feature
=======================  ================  =========  =============  ==============
GDT                      obj-general (1)   yes        yes            fc7 (500)
GDT(no bp)               obj-general (1)   yes        no             fc7 (500)
no obj-general           pre-trained (2)   yes        yes            fc7 (500)
no obj-general(no bp)    pre-trained (2)   yes        no             fc7 (500)
obj-general              obj-general (1)   no         yes            fc7 (500)
obj-general(no bp)       obj-general (1)   no         no             fc7 (500)
pre-trained              pre-trained (2)   no         yes            fc7 of AlexNet (4096)
pre-trained(no bp)       pre-trained (2)   no         no             fc7 of AlexNet (4096)
=======================  ================  =========  =============  ==============

(1) the phase-1 objectness checkpoint (``gdt-flow pretrain``); (2) the ImageNet pre-trained
AlexNet [25] (torchvision state dict; fc7 re-initialised at 500-d where the variant uses the
500-d layer). A missing weights source means a seeded random initialisation, said loudly.
The MLflow record is one parent run with the eight evaluations as child runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdt_core.config import Config

if TYPE_CHECKING:
    from workflows.evaluate.evaluation_run import EvaluationTargets

ABLATION_JSON = "ablation.json"


@dataclass(frozen=True)
class Variant:
    """One row of Table 1 and the paper's numbers for it."""

    key: str  # results folder / run name
    name: str  # as Table 1 prints it
    weights: str  # "objectness" | "pretrained"
    phase2: bool
    backprop: bool
    feature: str  # network.feature
    paper_precision: float
    paper_success: float
    paper_dim: int


VARIANTS = (
    Variant("GDT", "GDT", "objectness", True, True, "fc7", 0.841, 0.613, 500),
    Variant("GDT-nobp", "GDT(no bp)", "objectness", True, False, "fc7", 0.803, 0.588, 500),
    Variant("NoObjGen", "no obj-general", "pretrained", True, True, "fc7", 0.643, 0.472, 500),
    Variant(
        "NoObjGen-nobp",
        "no obj-general(no bp)",
        "pretrained",
        True,
        False,
        "fc7",
        0.620,
        0.465,
        500,
    ),
    Variant("ObjGen", "obj-general", "objectness", False, True, "fc7", 0.497, 0.357, 500),
    Variant(
        "ObjGen-nobp", "obj-general(no bp)", "objectness", False, False, "fc7", 0.484, 0.349, 500
    ),
    Variant(
        "PreTrained", "pre-trained", "pretrained", False, True, "pretrained_fc7", 0.484, 0.346, 4096
    ),
    Variant(
        "PreTrained-nobp",
        "pre-trained(no bp)",
        "pretrained",
        False,
        False,
        "pretrained_fc7",
        0.479,
        0.342,
        4096,
    ),
)


def choose_variants(keys: str | None) -> list[Variant]:
    """The variants named in ``keys`` (comma-separated; all eight when ``None``), in Table
    1's order; a ``ValueError`` naming an unknown key."""
    if not keys:
        return list(VARIANTS)
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    unknown = sorted(set(wanted) - {v.key for v in VARIANTS})
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {[v.key for v in VARIANTS]}")
    return [v for v in VARIANTS if v.key in wanted]


def run_ablation(
    cfg: Config,
    chosen: list[Variant],
    targets: EvaluationTargets,
    sources: dict[str, str | None],
    out: Path,
    *,
    strict: bool,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Each chosen variant evaluated on ``targets`` (``out/<key>``, resumable; the variants
    share warm tracking actors) with its weights from ``sources`` (``objectness``,
    ``pretrained``); the table written beside them (:func:`write_ablation`, plots); its
    rows. Ray must be up."""
    from workflows.evaluate.evaluate_job import TrackingPool
    from workflows.evaluate.evaluation_run import run_one_evaluation
    from workflows.pretrain.weights_fetch import weights_name
    from workflows.runs.mlflow_store import code_version

    out.mkdir(parents=True, exist_ok=True)
    pool = TrackingPool(cfg)
    rows = []
    try:
        for variant in chosen:
            vcfg = variant_config(cfg, variant)
            say(f"== {variant.name} ==")
            _, summary, _ = run_one_evaluation(
                vcfg,
                targets,
                tracker="gdt",
                weights=sources[variant.weights],
                run_dir=out / variant.key,
                label=variant.key,
                strict=strict,
                say=say,
                warn=warn,
                attribute_plots=False,  # per attribute: the variants side by side, below
                pool=pool,
            )
            scores = summary["trackers"].get(variant.key)
            rows.append(
                {
                    "key": variant.key,
                    "name": variant.name,
                    "weights": weights_name(sources[variant.weights]),
                    "precision": scores["precision"] if scores else None,
                    "success": scores["auc"] if scores else None,
                    "fps": scores["fps"] if scores else None,
                    "feature_dim": feature_dim(vcfg),
                    "paper_precision": variant.paper_precision,
                    "paper_success": variant.paper_success,
                    "paper_dim": variant.paper_dim,
                    "failed": sorted(summary["failed"]),
                }
            )
    finally:
        pool.close()
    params = {
        "sequences": ",".join(targets.sequences),
        "objectness_weights": weights_name(sources["objectness"]),
        "pretrained_weights": weights_name(sources["pretrained"]),
        "variants": ",".join(v.key for v in chosen),
    }
    write_ablation(out, rows, {"params": params, "code_version": code_version()})
    plot_variants(out, chosen)
    return rows


def variant_config(cfg: Config, variant: Variant) -> Config:
    """``cfg`` with the variant's switches (phase 2, online back-propagation, feature)."""
    return cfg.replace(
        {
            "phase2.enabled": variant.phase2,
            "online.backprop": variant.backprop,
            "network.feature": variant.feature,
        }
    )


def feature_dim(cfg: Config) -> int:
    """The dimension of the features the Bayesian layer sees (Table 1's last column)."""
    net = cfg.network
    return net.fc6_dim if net.feature == "pretrained_fc7" else net.fc7_dim


def plot_variants(out_dir: Path, variants: list[Variant]) -> None:
    """Fig. 2 of the paper: the variants' success and precision plots, overall and per
    attribute, in ``<out_dir>/plots``."""
    from gdt_core.metrics.ope_plots import plot_report
    from workflows.evaluate.evaluation_summary import score_run

    scores = [s for v in variants if (s := score_run(out_dir / v.key, v.name)) is not None]
    if scores:
        plot_report(scores, out_dir / "plots")


def write_ablation(out_dir: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    (out_dir / ABLATION_JSON).write_text(json.dumps({"variants": rows, **meta}, indent=1))


def read_ablation(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / ABLATION_JSON).read_text())


def format_table(rows: list[dict[str, Any]]) -> str:
    """Table 1's form (precision, success, feature dimension), ours beside the paper's."""
    head = (
        f"{'Method':<24}{'Precision':>10}{'Success':>9}{'dim':>6}   |"
        f"{'paper P':>9}{'paper S':>9}{'dim':>6}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        ours = (
            f"{row['precision']:>10.3f}{row['success']:>9.3f}"
            if row.get("success") is not None
            else f"{'failed':>10}{'':>9}"
        )
        lines.append(
            f"{row['name']:<24}{ours}{row['feature_dim']:>6}   |"
            f"{row['paper_precision']:>9.3f}{row['paper_success']:>9.3f}{row['paper_dim']:>6}"
        )
    return "\n".join(lines)


def log_ablation(out_dir: str | Path, tracking_uri: str, experiment_id: str) -> str:
    """One parent run (the table, the weights, the targets) with each variant as a child."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from workflows.evaluate.evaluation_mlflow import log_evaluation
    from workflows.runs.mlflow_store import (
        check_reachable,
        failed_on_error,
        finish_run,
        open_run,
        version_tags,
    )

    out_dir = Path(out_dir)
    table = read_ablation(out_dir)
    started, finished = _span(out_dir, table["variants"])
    check_reachable(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    tags = {"gdt.kind": "ablation", **version_tags(table.get("code_version"))}
    parent_id = open_run(client, experiment_id, "ablation", tags, start_time=started)
    with failed_on_error(client, parent_id):
        params = [Param(k, str(v)) for k, v in table["params"].items()]
        client.log_batch(parent_id, params=params)
        metrics = []
        for row in table["variants"]:
            if row.get("success") is None:
                continue
            metrics += [
                Metric(f"{row['key']}/auc", row["success"], 0, 0),
                Metric(f"{row['key']}/precision", row["precision"], 0, 0),
            ]
            row["mlflow_run_id"] = log_evaluation(
                out_dir / row["key"],
                tracking_uri,
                experiment_id,
                run_name=row["key"],
                parent_run_id=parent_id,
                extra_tags={"gdt.variant": row["name"]},
            )
        client.log_batch(parent_id, metrics=metrics)
        table["mlflow_run_id"] = parent_id
        table["tracking_uri"] = tracking_uri
        (out_dir / ABLATION_JSON).write_text(json.dumps(table, indent=1))
        (out_dir / "ablation.txt").write_text(format_table(table["variants"]) + "\n")
        client.log_artifact(parent_id, str(out_dir / ABLATION_JSON))
        client.log_artifact(parent_id, str(out_dir / "ablation.txt"))
        if (out_dir / "plots").is_dir():
            client.log_artifacts(parent_id, str(out_dir / "plots"), artifact_path="plots")
    finish_run(client, parent_id, end_time=finished)
    return parent_id


def _span(out_dir: Path, variants: list[dict]) -> tuple[int | None, int | None]:
    """When the variants' evaluations began and ended (Unix ms; None where unknown): the
    parent run spans its children, not the moment it is logged."""
    from workflows.evaluate.evaluation_summary import read_summary

    spans = []
    for row in variants:
        try:
            spans.append(read_summary(out_dir / row["key"]))
        except (OSError, ValueError):
            continue
    starts = [s["started_ms"] for s in spans if s.get("started_ms")]
    ends = [s["finished_ms"] for s in spans if s.get("finished_ms")]
    return (min(starts) if starts else None), (max(ends) if ends else None)
