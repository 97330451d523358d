"""The README's Python example runs as written (on a shared OTB target, with the ImageNet
weights where `gdt-flow weights fetch` puts them) and follows the target."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdt_core.boxes import center_error
from gdt_core.data.otb import load_sequence

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet(section: str = "## Use GDT from Python") -> str:
    """The first ```python block after ``section`` in README.md."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(section) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.mark.shared_data
def test_the_readme_python_example_runs_as_written(
    shared_data: Path, imagenet_conv_weights: Path, tmp_path: Path
) -> None:
    code = readme_snippet()
    assert len(code.strip().splitlines()) <= 12  # "in ten lines", give or take the imports
    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    shutil.copy(imagenet_conv_weights, home / "weights" / "alexnet-imagenet.pth")
    info = {"name": "alexnet-imagenet-conv", "source": "shared copy for the test"}
    (home / "weights" / "alexnet-imagenet.json").write_text(json.dumps(info))
    (tmp_path / "Crossing").symlink_to(shared_data / "otb" / "Crossing")
    env = {**os.environ, "GDT_FLOW_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    seq = load_sequence(shared_data / "otb", "Crossing")
    assert len(lines) == len(seq) - 1
    last = np.array([float(v) for v in re.search(r"\[(.*)\]", lines[-1]).group(1).split()])
    assert center_error(last, seq.ground_truth[-1])[0] < 20  # still on the target


def test_without_fetched_weights_imagenet_weights_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdt_core import WeightsError, imagenet_weights

    monkeypatch.setenv("GDT_FLOW_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="run `gdt-flow weights fetch` once"):
        imagenet_weights()
