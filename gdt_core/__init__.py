"""gdt_core: the GDT tracker of Zhai, Javan Roshtkhari and Mori, "Deep Learning of Appearance
Models for Online Object Tracking", as a plain library (no Ray, no MLflow).

Usable alone on one image stream::

    from gdt_core import GDTTracker, load_config
    tracker = GDTTracker(load_config())
    tracker.init(first_image, (x, y, w, h))
    box, score = tracker.update(next_image)
"""

from .baselines import OpenCVTracker
from .config import Config, ConfigError, load_config
from .network import GDTNet, WeightsError, build_network, load_pretrained, save_checkpoint
from .tracker import GDTTracker
from .trackers import TRACKERS, make_tracker

__all__ = [
    "Config",
    "ConfigError",
    "GDTNet",
    "GDTTracker",
    "OpenCVTracker",
    "TRACKERS",
    "WeightsError",
    "build_network",
    "load_config",
    "load_pretrained",
    "make_tracker",
    "save_checkpoint",
]
