"""``gdt-flow build-patches`` and ``gdt-flow pretrain``: phase 1 of section 3.2."""

from __future__ import annotations

import click

from workflows.options import build_config, config_options, tracking_uri_option

_DIR = click.Path(file_okay=False)
_EXISTING_DIR = click.Path(exists=True, file_okay=False)


_DET_ROOT_HELP = (
    "ImageNet DET, PASCAL VOC or COCO (annotations/instances_*.json) root, or a folder of "
    "such roots; repeat for several."
)


@click.command("build-patches")
@click.option(
    "--det-root", "det_roots", multiple=True, required=True, type=_EXISTING_DIR, help=_DET_ROOT_HELP
)
@click.option("--out", "out_dir", required=True, type=_DIR, help="Patch set directory.")
@click.option("--num-patches", type=int, help="Patches in total (default phase1.num_patches).")
@click.option("--seed", type=int, help="Sampling seed (default: the config's seed).")
@click.option("--split", default="train", show_default=True, help="ImageNet DET split.")
@click.option("--parallel", type=int, help="Shards running at once (default: all CPUs).")
@click.option("--address", help="Ray cluster address (default: a local Ray).")
@config_options
def build_patches_command(
    det_roots: tuple[str, ...],
    out_dir: str,
    num_patches: int | None,
    seed: int | None,
    split: str,
    parallel: int | None,
    address: str | None,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Objectness patches from DET images, one Ray task per shard (re-runs resume)."""
    from gdt_core.data.det_sources import data_sets
    from workflows.pretrain.patches_job import build_patches
    from workflows.ray_runtime import init_ray, keep_ray_logs

    cfg = build_config(
        overlays,
        overrides,
        **{"phase1.num_patches": num_patches, "seed": seed, "ray.address": address},
    )
    try:
        for root in det_roots:
            data_sets(root, split)  # fail before starting Ray
        init_ray(cfg.ray.address)
        build_patches(cfg, det_roots, out_dir, split=split, max_parallel=parallel)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        keep_ray_logs(out_dir)


@click.command("pretrain")
@click.option(
    "--det-root",
    "det_roots",
    multiple=True,
    type=_EXISTING_DIR,
    help="Build the patches first, from this root. " + _DET_ROOT_HELP,
)
@click.option("--patches", type=_DIR, help="Patch set to train on (or to build into).")
@click.option("--num-patches", type=int, help="Patches to build (default phase1.num_patches).")
@click.option("--num-workers", type=int, help="Ray Train workers (default ray.train_workers).")
@click.option("--use-gpu/--no-gpu", default=None, help="Train on GPUs (default ray.use_gpu).")
@click.option("--iterations", type=int, help="SGD steps (default phase1.iterations).")
@click.option(
    "--init",
    help="Initial weights: file, runs:/ or models:/ URI (default: the ImageNet weights of "
    "`gdt-flow weights fetch`, else a random network).",
)
@click.option("--address", help="Ray cluster address (default: a local Ray).")
@tracking_uri_option
@click.option(
    "--storage",
    default="gdt-flow-work",
    show_default=True,
    type=_DIR,
    help="Ray Train storage and default patch directory (shared on a cluster).",
)
@click.option("--split", default="train", show_default=True, help="ImageNet DET split.")
@config_options
def pretrain_command(
    det_roots: tuple[str, ...],
    patches: str | None,
    num_patches: int | None,
    num_workers: int | None,
    use_gpu: bool | None,
    iterations: int | None,
    init: str | None,
    address: str | None,
    storage: str,
    split: str,
    overlays: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Phase-1 objectness fine-tuning on Ray Train, logged to MLflow: all layers
    (phase1.train_layers=all, the paper) or fc6/fc7 on cached pool5 features (=fc)."""
    from workflows.pretrain.pretrain_job import run_pretrain

    if not det_roots and patches is None:
        raise click.UsageError("give --det-root DIR (build patches) or --patches DIR")
    cfg = build_config(
        overlays,
        overrides,
        **{
            "phase1.num_patches": num_patches,
            "phase1.iterations": iterations,
            "ray.train_workers": num_workers,
            "ray.use_gpu": use_gpu,
            "ray.address": address,
        },
    )
    from workflows.pretrain.weights import gdt_weights
    from workflows.ray_runtime import keep_ray_logs

    try:
        result = run_pretrain(cfg, det_roots, patches, gdt_weights(init), storage, split)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:  # WeightsError: a ValueError
        raise click.ClickException(str(exc)) from None
    finally:
        keep_ray_logs(storage)
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.final_metrics.items()))
    click.echo(f"run {result.run_id}: {metrics}")
    click.echo(f"model {result.model_uri}; checkpoint {result.checkpoint}")
