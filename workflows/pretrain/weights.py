"""``--weights`` / ``--init`` specs -> a local gdt-flow checkpoint file.

Accepted specs:

* a file path (a gdt-flow checkpoint or torchvision AlexNet state dict);
* ``runs:/<run_id>/<artifact path>`` -- a file, or a directory holding one checkpoint
  (e.g. ``runs:/<id>/checkpoint`` written by ``gdt-flow pretrain``);
* ``models:/<name>/<version>``, ``models:/<name>@<alias>`` (also ``models:/<name>/@<alias>``)
  -- a registered model logged by ``gdt-flow pretrain``; its weights-only checkpoint travels
  inside the MLflow model as ``extra_files/gdt_net.pt``.

The result is loaded by :func:`gdt_core.network.network.load_pretrained` with ``weights_only=True``:
nothing from the MLflow model's pickles or graphs is executed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import click

from gdt_core.network.network import WeightsError
from gdt_core.network.weights_cache import cached_weights
from gdt_core.tracking.trackers import GDT_TRACKERS
from workflows.pretrain.weights_fetch import weights_name
from workflows.runs.mlflow_store import resolve_tracking_uri

CHECKPOINT_NAME = "gdt_net.pt"
_ALIAS_SLASH = re.compile(r"^models:/([^/@]+)/@([^/]+)$")


_RANDOM_NETWORK_SAID: list[bool] = []


def gdt_weights(spec: str | None, tracker: str = "gdt") -> str | None:
    """``--weights`` as given; for GDT without it, the cached ImageNet weights (``gdt-flow
    weights fetch``) when present, else ``None`` -- said once per process, plainly, with the
    fix: GDT then runs on a randomly initialised network."""
    if spec or tracker not in GDT_TRACKERS:
        return spec
    cached = cached_weights()
    if cached is not None:
        click.echo(f"weights: {weights_name(cached)} ({cached})", err=True)
        return str(cached)
    if not _RANDOM_NETWORK_SAID:
        _RANDOM_NETWORK_SAID.append(True)
        click.secho(
            "warning: GDT runs on a RANDOMLY INITIALISED network (no --weights, no cached "
            "ImageNet weights): run `gdt-flow weights fetch` once, or pass --weights",
            fg="yellow",
            err=True,
        )
    return None


@contextlib.contextmanager
def use_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API and registry at ``uri`` for a block; restore them after."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def _find_checkpoint(local: Path, spec: str) -> Path:
    if local.is_file():
        return local
    preferred = sorted(local.rglob(CHECKPOINT_NAME))
    found = preferred or sorted(p for p in local.rglob("*.pt") if p.is_file())
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise WeightsError(f"{spec}: {what} gdt-flow checkpoint files ({CHECKPOINT_NAME}) in it")
    return found[0]


def resolve_weights(
    spec: str | Path | None, tracking_uri: str | None = None, dst_dir: str | Path | None = None
) -> Path | None:
    """A local checkpoint path for ``spec`` (``None`` or empty -> ``None``: random init).

    MLflow URIs are downloaded (into ``dst_dir`` or a temporary directory) from
    ``tracking_uri`` (resolved as :func:`workflows.runs.mlflow_store.resolve_tracking_uri` does);
    anything unresolvable raises :class:`gdt_core.network.network.WeightsError` naming the spec.
    """
    if spec is None or str(spec) == "":
        return None
    text = str(spec)
    if not text.startswith(("runs:/", "models:/")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found")
        return path
    import mlflow
    from mlflow.exceptions import MlflowException

    text = _ALIAS_SLASH.sub(r"models:/\1@\2", text)
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        # MLflow would create an empty store there just to find nothing in it
        raise WeightsError(
            f"{text}: no MLflow store at {uri} (nothing was logged there; give --tracking-uri "
            "or set MLFLOW_TRACKING_URI to the store that holds the model)"
        )
    try:
        with use_tracking_uri(uri):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=text, dst_path=str(dst_dir) if dst_dir else None
            )
    except (MlflowException, OSError) as exc:
        raise WeightsError(f"{text}: cannot download from {uri} ({exc})") from None
    return _find_checkpoint(Path(local), text)
