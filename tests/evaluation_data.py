"""A tiny generated OTB root with its own sequence table, for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

from gdt_core.synthetic_otb import write_synthetic_sequence

TARGETS = {"SynA": "IV SV", "SynB": "OCC", "SynC": "IV"}
FRAMES = 12


def make_otb_root(root: Path, frames: int = FRAMES) -> tuple[Path, Path]:
    """Three 96x72 targets of ``frames`` frames under ``root/otb`` + a table listing a 4th,
    absent target ``SynMissing``; returns (otb_root, table_csv)."""
    otb = root / "otb"
    rows = ["name,start_frame,end_frame,anno_begin,gt_lines,cvpr13,tb50,attributes"]
    for seed, (name, attributes) in enumerate(TARGETS.items()):
        write_synthetic_sequence(otb, name, frames, seed=seed, size=(96, 72), object_size=(20, 16))
        rows.append(f"{name},1,{frames},1,{frames},1,0,{attributes}")
    rows.append(f"SynMissing,1,{frames},1,{frames},0,0,IV")
    table = root / "table.csv"
    table.write_text("\n".join(rows) + "\n")
    return otb, table
