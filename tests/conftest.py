"""Shared fixtures: the real data in ../shared/data and a small real local Ray instance."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the clone; tests using it skip visibly where it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real OTB/VOC data not found at {SHARED_DATA} (only in CI / dev sessions)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray instance (Ray 2.60 has no local_mode), shared by the session."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()
