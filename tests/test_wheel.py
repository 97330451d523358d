"""gdt-flow as a wheel installed outside its checkout: ``--help``, ``track``, ``evaluate`` with
the default config, and ``demo`` from a folder of its own, with the defaults it ships.

The wheel is built from this checkout (no network: this environment's setuptools) and
installed into a fresh virtual environment whose dependencies (torch, Ray, MLflow, ...) come
from this one by a ``.pth`` line; the checkout's editable install is not visible there (its
finder is in a ``.pth`` file of this environment, which a path added by ``.pth`` does not
run), and every command runs from a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gdt_core.data.synthetic_otb import write_synthetic_otb_set, write_synthetic_sequence

pytestmark = [pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "network.input_size=99",
    "tracker.pooled_target_size=32",
    "sampling.first_frame_positives=16",
    "sampling.first_frame_negatives=32",
    "phase2.max_iterations=2",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp / "dist"), str(ROOT)], check=True, timeout=300)
    wheel = next((tmp / "dist").glob("gdt_flow-*.whl"))
    venv = tmp / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run([*install, "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    return venv


def _run(env: Path, cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    clean["PATH"] = f"{env / 'bin'}:{clean['PATH']}"
    return subprocess.run(
        [str(env / "bin" / "gdt-flow"), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_installed_package_is_the_wheel_with_its_shipped_files(env: Path, tmp_path) -> None:
    code = (
        "import gdt_core, workflows; from gdt_core.config import DEFAULT_CONFIG; "
        "from gdt_core.data.otb import DATASETS_DIR, sequence_names; "
        "from workflows.runs.mlflow_store import code_version; "
        "print(gdt_core.__file__, workflows.__file__, DEFAULT_CONFIG, DATASETS_DIR, "
        "len(sequence_names('cvpr13')), code_version())"
    )
    done = subprocess.run(
        [str(env / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    core, flows, config, datasets, cvpr13, version = done.stdout.split()
    site = str(next(env.glob("lib/python*/site-packages")))
    for path in (core, flows, config, datasets):
        assert path.startswith(site), path  # not the checkout
    assert config.endswith("gdt_core/shipped/configs/default.yaml")
    assert cvpr13 == "51" and version == "gdt-flow==0.1.0"
    done = _run(env, tmp_path, "--help")
    assert done.returncode == 0 and "track" in done.stdout and "sweep" in done.stdout


def test_track_and_evaluate_run_from_the_wheel(env: Path, tmp_path: Path) -> None:
    seq = write_synthetic_sequence(tmp_path / "own", "Mine", 6, seed=3)
    sets = [arg for item in FAST for arg in ("--set", item)]
    done = _run(env, tmp_path, "track", "--sequence", str(seq), "--out", "mine.txt", *sets)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Mine: AUC" in done.stdout and (tmp_path / "mine.txt").is_file()
    # a shipped config by the name a checkout's path gives it
    done = _run(
        env, tmp_path, "track", "--sequence", str(seq), "--out", "demo.txt",
        "--config", "configs/demo.yaml",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    otb = tmp_path / "otb"
    table = write_synthetic_otb_set(otb, ["WheelA", "WheelB"], 5, size=(96, 72))
    done = _run(
        env, tmp_path, "evaluate", "--otb-root", str(otb), "--sequence-table", str(table),
        "--sequences", "WheelA,WheelB", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "AUC" in done.stdout and (tmp_path / "run" / "GDT" / "WheelA.txt").is_file()


def test_the_demo_runs_from_its_own_folder(env: Path, tmp_path: Path) -> None:
    tiny = [
        "--det-images", "8", "--num-sequences", "2", "--frames", "5", "--gammas", "0.95",
        "--set", "phase1.num_patches=64", "--set", "phase1.iterations=2",
        "--set", "phase1.batch_size=16", "--set", "ray.patch_shards=2",
    ]  # fmt: skip
    done = _run(env, tmp_path, "demo", "--workdir", "demo", *tiny, timeout=400)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert (tmp_path / "demo" / "mlflow.db").is_file()
    assert "ui --tracking-uri" in done.stdout
