"""gdt_core: the GDT tracker of Zhai, Javan Roshtkhari and Mori, "Deep Learning of Appearance
Models for Online Object Tracking", as a plain library (no Ray, no MLflow).

Usable alone on one image stream::

    from gdt_core import GDTTracker, load_config
    tracker = GDTTracker(load_config())
    tracker.init(first_image, (x, y, w, h))
    box, score = tracker.update(next_image)

The names below are imported on first use, so ``import gdt_core.metrics.ope`` (scoring, an OpenCV
baseline's actor) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OpenCVTracker": "tracking.baselines",
    "Config": "config",
    "ConfigError": "config",
    "load_config": "config",
    "GDTNet": "network.network",
    "WeightsError": "network.network",
    "build_network": "network.network",
    "load_pretrained": "network.network",
    "imagenet_weights": "network.weights_cache",
    "save_checkpoint": "network.network",
    "GDTTracker": "tracking.tracker",
    "ReferenceGDTTracker": "tracking.reference",
    "TRACKERS": "tracking.trackers",
    "make_tracker": "tracking.trackers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gdt_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
