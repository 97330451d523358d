"""A tiny generated OTB root with its own sequence table, for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

from gdt_core.data.synthetic_otb import write_synthetic_otb_set

TARGETS = {"SynA": "IV SV", "SynB": "OCC", "SynC": "IV"}
FRAMES = 12


def make_otb_root(root: Path, frames: int = FRAMES) -> tuple[Path, Path]:
    """Three 96x72 targets of ``frames`` frames under ``root/otb`` + a table listing a 4th,
    absent target ``SynMissing``; returns (otb_root, table_csv)."""
    otb = root / "otb"
    table = write_synthetic_otb_set(
        otb,
        list(TARGETS),
        frames,
        attributes=(*TARGETS.values(), "IV"),
        absent=("SynMissing",),
        size=(96, 72),
        object_size=(20, 16),
    )
    return otb, table
