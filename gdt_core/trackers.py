"""One factory for every tracker the workflows run: ``make_tracker("gdt" | "csrt" | ...)``."""

from __future__ import annotations

from pathlib import Path

from .baselines import BASELINES, OpenCVTracker
from .config import Config
from .tracking import Tracker

GDT_TRACKERS = ("gdt", "gdt-reference")  # the paper's tracker: fast, and in the paper's order
TRACKERS = (*GDT_TRACKERS, *BASELINES)


def make_tracker(name: str, cfg: Config, weights: str | Path | None = None) -> Tracker:
    """A fresh tracker by name; ``cfg`` and ``weights`` matter only for the GDT trackers."""
    if name == "gdt":
        from .tracker import GDTTracker

        return GDTTracker(cfg, weights=weights)
    if name == "gdt-reference":
        from .reference import ReferenceGDTTracker

        return ReferenceGDTTracker(cfg, weights=weights)
    if name in BASELINES:
        return OpenCVTracker(name)
    raise ValueError(f"unknown tracker '{name}' (choose from {list(TRACKERS)})")
