"""Where the shipped YAML configs (``configs/``) and data-set descriptions (``datasets/``) are.

In a checkout they are the top-level folders; an installed wheel carries them as package data
under ``gdt_core/shipped/`` (``pyproject.toml`` maps the folders there), read through
:mod:`importlib.resources`. ``GDT_FLOW_CONFIG_DIR`` overrides the config folder.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when running from one


def shipped(kind: str) -> Path:
    """The folder of ``kind`` (``"configs"`` or ``"datasets"``): the package data of an
    installed wheel, else the checkout's folder."""
    packaged = files("gdt_core") / "shipped" / kind
    if packaged.is_dir():
        return Path(str(packaged))
    return SOURCE_ROOT / kind


def config_dir() -> Path:
    """``$GDT_FLOW_CONFIG_DIR``, else the shipped configs."""
    override = os.environ.get("GDT_FLOW_CONFIG_DIR")
    return Path(override) if override else shipped("configs")
