"""One factory for every tracker the workflows run: ``make_tracker("gdt" | "csrt" | ...)``."""

from __future__ import annotations

from pathlib import Path

from gdt_core.config import Config
from gdt_core.tracking.baselines import BASELINES, OpenCVTracker
from gdt_core.tracking.interface import Tracker

GDT_TRACKERS = ("gdt", "gdt-reference")  # the paper's tracker: fast, and in the paper's order
TRACKERS = (*GDT_TRACKERS, *BASELINES)


def make_tracker(name: str, cfg: Config, weights: str | Path | None = None) -> Tracker:
    """A fresh tracker by name; ``cfg`` and ``weights`` matter only for the GDT trackers."""
    if name == "gdt":
        from gdt_core.tracking.tracker import GDTTracker

        return GDTTracker(cfg, weights=weights)
    if name == "gdt-reference":
        from gdt_core.tracking.reference import ReferenceGDTTracker

        return ReferenceGDTTracker(cfg, weights=weights)
    if name in BASELINES:
        return OpenCVTracker(name)
    raise ValueError(f"unknown tracker '{name}' (choose from {list(TRACKERS)})")
