"""Shared fixtures: the real data in ../shared/data and a small real local Ray instance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _empty_weights_cache(tmp_path_factory) -> None:
    """No test sees a developer's ``~/.cache/gdt-flow``: GDT without ``--weights`` runs on
    the random network unless a test fetches weights into its own ``GDT_FLOW_HOME``."""
    os.environ["GDT_FLOW_HOME"] = str(tmp_path_factory.mktemp("gdt-flow-home"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the clone; tests using it skip visibly where it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real OTB/VOC data not found at {SHARED_DATA} (only in CI / dev sessions)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def imagenet_conv_weights() -> Path:
    """``../shared/weights/alexnet-imagenet-conv.pth`` (ImageNet AlexNet conv1-5); tests using
    it skip visibly where it is absent."""
    path = SHARED_DATA.parent / "weights" / "alexnet-imagenet-conv.pth"
    if not path.is_file():
        pytest.skip(f"ImageNet AlexNet conv weights not found at {path} (CI / dev sessions)")
    return path


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray instance (Ray 2.60 has no local_mode), shared by the session."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()
