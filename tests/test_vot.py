"""The VOT toolkit (vot-toolkit 0.9.0, vot-trax 4.0.2) runs our trackers over TraX: its own
`vot test`, an offline `vot evaluate` + `vot analysis` of GDT and CSRT, and bad input answered
with a TraX error, never a hang. Skipped (saying so) where the toolkit is not installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from workflows.vot.vot_workspace import trackers_ini

HAS_VOT = all(importlib.util.find_spec(m) for m in ("vot", "trax"))
requires_vot = pytest.mark.skipif(
    not HAS_VOT, reason="vot-toolkit / vot-trax not installed (`make install` adds them)"
)
VOT = str(Path(sys.executable).with_name("vot"))


def test_the_environment_keeps_the_contrib_opencv_with_csrt():
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert "opencv-python" not in installed  # vot-toolkit's own dependency, not installed
    assert hasattr(cv2, "TrackerCSRT_create") or hasattr(cv2, "TrackerCSRT")


def _vot(args: list[str], cwd: Path, timeout: int = 600) -> str:
    done = subprocess.run(
        [VOT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.stdout + done.stderr  # the toolkit exits 0 even when a tracker fails


@requires_vot
def test_vot_test_runs_gdt_through_trax(tmp_path: Path):
    (tmp_path / "trackers.ini").write_text(trackers_ini({"gdt": []}, timeout_s=120))
    out = _vot(["test", "gdt"], tmp_path)
    assert "Test concluded successfuly" in out, out[-2000:]
    assert "@@TRAX:state" in out


@requires_vot
def test_offline_vot_evaluate_and_analysis_of_gdt_and_csrt(
    shared_data: Path, imagenet_conv_weights: Path, tmp_path: Path
):
    from click.testing import CliRunner

    from workflows.cli import main

    ws = tmp_path / "ws"
    res = CliRunner().invoke(
        main,
        ["vot-workspace", "--otb-root", str(shared_data / "otb"), "--sequences",
         "Skiing,Football1", "--max-frames", "12", "--out", str(ws),
         "--weights", str(imagenet_conv_weights)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (ws / "sequences" / "Skiing" / "color" / "00000012.jpg").exists()
    out = _vot(["evaluate", "--workspace", str(ws), "gdt", "csrt"], tmp_path)
    assert "Evaluation concluded successfuly" in out, out[-2000:]
    out = _vot(["analysis", "--workspace", str(ws), "--name", "otb"], tmp_path)
    assert "Analysis successful" in out, out[-2000:]
    report = json.loads((ws / "analysis" / "otb.json").read_text())
    assert set(report["trackers"]) == {"gdt", "csrt"}
    assert set(report["sequences"]) == {"Skiing", "Football1"}
    accuracy = report["results"]["baseline"]["results"][0]  # analysis 1, one value per tracker
    assert len(accuracy) == 2 and all(0.3 < a[0] <= 1.0 for a in accuracy)
    out = _vot(["report", "--workspace", str(ws), "--name", "otb"], tmp_path)
    assert "Report generation successful" in out, out[-2000:]
    assert "GDT (gdt-flow)" in (ws / "reports" / "otb" / "report.html").read_text()


def _server(tmp_path: Path):
    """``gdt-flow trax --tracker csrt`` behind the toolkit's own TraX client."""
    from trax.client import Client

    proc = subprocess.Popen(
        [sys.executable, "-m", "workflows.cli", "trax", "--tracker", "csrt"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=0,
    )
    client = Client(stream=(proc.stdin.fileno(), proc.stdout.fileno()), log=lambda _: None)
    return proc, client


@requires_vot
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing first image", "cannot read image"),
        ("missing later image", "cannot read image"),
        ("box outside the image", "is not inside the 64x48 image"),
        ("empty box", "is not inside the 64x48 image"),
    ],
)
def test_bad_input_ends_the_session_with_its_reason(tmp_path: Path, case: str, reason: str):
    import trax
    from trax.image import FileImage

    good = tmp_path / "frame.jpg"
    cv2.imwrite(str(good), np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8))
    missing = str(tmp_path / "absent.jpg")
    first = missing if case == "missing first image" else str(good)
    box = {"box outside the image": (100, 100, 10, 10), "empty box": (10, 10, 0, 0)}.get(
        case, (10, 10, 20, 16)
    )
    proc, client = _server(tmp_path)
    try:
        with pytest.raises(trax.TraxException, match=reason):
            region = trax.Rectangle.create(*box)
            client.initialize({"color": FileImage.create(first)}, [(region, {})], {})
            client.frame({"color": FileImage.create(missing)}, {}, [])
        assert proc.wait(timeout=30) != 0  # the server ended, it did not wait for more
    finally:
        proc.kill()


@requires_vot
def test_a_polygon_is_tracked_as_its_bounding_rectangle(tmp_path: Path):
    import trax
    from trax.image import FileImage

    frame = tmp_path / "frame.jpg"
    cv2.imwrite(str(frame), np.random.default_rng(1).integers(0, 255, (48, 64, 3), np.uint8))
    proc, client = _server(tmp_path)
    try:
        polygon = trax.Polygon.create([(10, 12), (30, 12), (30, 28), (10, 28)])
        status, _ = client.initialize({"color": FileImage.create(str(frame))}, [(polygon, {})], {})
        assert status[0][0].bounds() == pytest.approx((10, 12, 20, 16))
        client.quit()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
