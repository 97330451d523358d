"""Where ``gdt-flow weights fetch`` keeps the ImageNet AlexNet weights, and finding them.

The cache is ``$GDT_FLOW_HOME/weights`` (default ``~/.cache/gdt-flow/weights``): the
torchvision-format ``alexnet-imagenet.pth`` and its provenance ``alexnet-imagenet.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gdt_core.network.network import WeightsError

WEIGHTS_FILE = "alexnet-imagenet.pth"
PROVENANCE_FILE = "alexnet-imagenet.json"


def weights_dir() -> Path:
    """``$GDT_FLOW_HOME/weights``, default ``~/.cache/gdt-flow/weights``."""
    home = os.environ.get("GDT_FLOW_HOME") or Path.home() / ".cache" / "gdt-flow"
    return Path(home) / "weights"


def cached_weights() -> Path | None:
    """The cached ImageNet weights, if ``gdt-flow weights fetch`` has put them there."""
    path = weights_dir() / WEIGHTS_FILE
    return path if path.is_file() and (path.parent / PROVENANCE_FILE).is_file() else None


def imagenet_weights() -> Path:
    """The ImageNet AlexNet weights (section 3.1's pre-trained model) fetched by ``gdt-flow
    weights fetch``; a :class:`~gdt_core.network.network.WeightsError` saying how to get
    them where they are not."""
    path = cached_weights()
    if path is None:
        raise WeightsError(
            f"{weights_dir() / WEIGHTS_FILE}: no ImageNet weights yet: run `gdt-flow weights "
            "fetch` once (or pass weights=<a checkpoint file>)"
        )
    return path
