"""build_patches on a real local Ray: same bytes whatever the parallelism; re-runs resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdt_core.config import load_config
from gdt_core.data.synthetic_det import generate_det
from workflows.pretrain.patches_job import build_patches

pytestmark = pytest.mark.ray

CFG = load_config().replace({"network.input_size": 67, "ray.patch_shards": 4})


def test_output_is_identical_for_one_or_two_shards_at_once(ray_local, tmp_path: Path) -> None:
    det = generate_det(tmp_path / "det", 12, seed=2)
    lines: list[str] = []
    one = build_patches(CFG, [det], tmp_path / "p1", 160, seed=7, max_parallel=1, log=lines.append)
    two = build_patches(CFG, [det], tmp_path / "p2", 160, seed=7, max_parallel=2)
    files = sorted(p.name for p in (tmp_path / "p1").glob("shard-*.npz"))
    assert files == [f"shard-{i:05d}.npz" for i in range(4)]
    for name in files:
        assert (tmp_path / "p1" / name).read_bytes() == (tmp_path / "p2" / name).read_bytes()
    assert one["counts"] == two["counts"] == {"background": 80, "object": 80, "framing": 0}
    assert one["shard_seeds"] == [[7, i] for i in range(4)]
    assert sum(line.startswith("shard ") for line in lines) == 4  # progress per shard
    manifest = json.loads((tmp_path / "p1" / "manifest.json").read_text())
    assert manifest["config"]["phase1"]["negative_max_iou"] == CFG.phase1.negative_max_iou

    # a re-run skips finished shards; a shard whose file is gone is rebuilt identically
    before = (tmp_path / "p1" / files[1]).read_bytes()
    (tmp_path / "p1" / files[1]).unlink()
    mtime = (tmp_path / "p1" / files[0]).stat().st_mtime_ns
    lines.clear()
    build_patches(CFG, [det], tmp_path / "p1", 160, seed=7, log=lines.append)
    assert "3 already built, 1 to build" in lines[0]
    assert (tmp_path / "p1" / files[0]).stat().st_mtime_ns == mtime
    assert (tmp_path / "p1" / files[1]).read_bytes() == before
