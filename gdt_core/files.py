"""Whole text files: written whole or not at all (what a killed worker leaves is never half a
file), and read with an error that names the file."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` into ``path`` (its folder made) through a temporary name unique to this
    process and ``os.replace``: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_text(path: Path, what: str, error: type[Exception]) -> str:
    """The text of ``path``; ``error`` ("<path>: <what> not found" / "cannot read") otherwise."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({exc})") from None
