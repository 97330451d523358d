"""A VOT-toolkit (0.9) workspace made from OTB folders, evaluated offline: the stack lists
local sequences, so ``vot evaluate`` and ``vot analysis`` download nothing.

Layout written (the toolkit's default sequence format)::

    <W>/config.yaml                 registry: ./trackers.ini, stack: ./stack.yaml
    <W>/stack.yaml                  one unsupervised (one-pass) experiment, no dataset to fetch
    <W>/trackers.ini                gdt and csrt through `gdt-flow trax` (plain TraX protocol)
    <W>/sequences/list.txt          the sequence names
    <W>/sequences/<Seq>/sequence    key=value metadata (channels, size, length)
    <W>/sequences/<Seq>/groundtruth.txt   x,y,w,h per frame, 0-based as VOT's regions
    <W>/sequences/<Seq>/color/%08d.jpg    links to the OTB frames (copies where links fail)
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence as Seq
from pathlib import Path

import cv2

from gdt_core.data.box_file import box_file_text
from gdt_core.data.otb import Sequence

STACK_YAML = """\
title: gdt-flow local OTB stack (one-pass, no reset)
experiments:
  baseline:
    type: unsupervised
    repetitions: 1
    analyses:
      - type: average_accuracy
        name: accuracy
        burnin: 0
      - type: average_success_plot
        name: success
        burnin: 0
"""
CONFIG_YAML = "registry:\n- ./trackers.ini\nstack: ./stack.yaml\n"


def gdt_flow_command() -> list[str]:
    """How the toolkit starts this installation's ``gdt-flow`` (absolute: it runs the tracker
    from a temporary folder)."""
    script = Path(sys.executable).with_name("gdt-flow")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "workflows.cli"]


def trackers_ini(trackers: dict[str, list[str]], timeout_s: int) -> str:
    """``trackers.ini``: one ``protocol = trax`` entry per tracker, run as ``gdt-flow trax``
    with the given extra arguments."""
    base = gdt_flow_command()
    blocks = []
    for name, extra in trackers.items():
        command = shlex.join([*base, "trax", "--tracker", name, *extra])
        blocks.append(
            f"[{name}]\nlabel = {name.upper()} (gdt-flow)\nprotocol = trax\n"
            f"command = {command}\ntimeout = {timeout_s}\n"
        )
    return "\n".join(blocks)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def write_vot_sequence(seq: Sequence, root: Path, max_frames: int | None = None) -> str:
    """``seq`` (its first ``max_frames`` frames) as a VOT sequence folder under ``root``."""
    n = len(seq) if max_frames is None else min(len(seq), max_frames)
    folder = root / seq.name
    (folder / "color").mkdir(parents=True, exist_ok=True)
    for k in range(n):
        _link_or_copy(seq.frame_paths[k], folder / "color" / f"{k + 1:08d}.jpg")
    (folder / "groundtruth.txt").write_text(box_file_text(seq.ground_truth[:n]))
    height, width = cv2.imread(str(seq.frame_paths[0])).shape[:2]
    (folder / "sequence").write_text(
        f"name={seq.name}\nfps=30\nformat=default\nchannel.default=color\n"
        f"channels.color=color/%08d.jpg\nwidth={width}\nheight={height}\nlength={n}\n"
    )
    return seq.name


def write_workspace(
    out: Path,
    sequences: Seq[Sequence],
    trackers: dict[str, list[str]],
    max_frames: int | None = None,
    timeout_s: int = 120,
) -> Path:
    """The whole workspace (see the module docstring) in ``out``; returns it."""
    out.mkdir(parents=True, exist_ok=True)
    root = out / "sequences"
    root.mkdir(exist_ok=True)
    names = [write_vot_sequence(seq, root, max_frames) for seq in sequences]
    (root / "list.txt").write_text("".join(n + "\n" for n in names))
    (out / "stack.yaml").write_text(STACK_YAML)
    (out / "config.yaml").write_text(CONFIG_YAML)
    (out / "trackers.ini").write_text(trackers_ini(trackers, timeout_s))
    return out
