"""The GDT network of section 3.1: AlexNet [25] with fc7 reduced to 500 dimensions.

Layer names follow torchvision's AlexNet (``features.<i>``) for the convolutions so that a
torchvision state dict loads directly; the two fully connected layers are ``fc6`` and ``fc7``.
The feature vector ``x`` of eqs. 1-11 is the output of fc7 (before its ReLU; see
:meth:`GDTNet.fc`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gdt_core.config import NetworkConfig

CHECKPOINT_FORMAT = "gdt-flow/1"
CONV5_CHANNELS = 256
POOL5_SIZE = 6  # AlexNet's pool5 grid: 6 x 6 x 256 = 9216 inputs to fc6
FC6_ROW_BLOCK = 16  # fc6_out pads MKL's rows to a multiple of this (GEMM speed, see there)


HAS_ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, "_linear_pointwise"
)
ONEDNN_FAILURES: list[str] = []  # the error that turned oneDNN's private linear off, if any


class WeightsError(ValueError):
    """A weights file is missing, truncated or of the wrong layout."""


class ConvOnlyWeights(UserWarning):
    """Weights that hold the convolutions only: fc6/fc7 stay at their seeded init."""


class GDTNet(nn.Module):
    """AlexNet convolutions + fc6 (4096) + fc7 (``fc7_dim``, 500 in the paper)."""

    def __init__(self, fc6_dim: int = 4096, fc7_dim: int = 500, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.pool = nn.AdaptiveAvgPool2d((POOL5_SIZE, POOL5_SIZE))
        self.dropout = nn.Dropout(dropout)
        self.fc6 = nn.Linear(CONV5_CHANNELS * POOL5_SIZE * POOL5_SIZE, fc6_dim)
        self.fc7 = nn.Linear(fc6_dim, fc7_dim)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                # He init keeps activations O(1) through the ReLUs; torch's default shrinks
                # them ~0.4x per layer (fc7 ~1e-2, variances far under gaussian.variance_floor).
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    @property
    def feature_dim(self) -> int:
        return self.fc7.out_features

    def conv5(self, images: torch.Tensor) -> torch.Tensor:
        """conv1..conv5 with ReLU, before pool5: ``(B, 256, H', W')``, computed channels-last
        (oneDNN's fast layout on the CPU)."""
        return self.features[:12](images.contiguous(memory_format=torch.channels_last))

    def pool5(self, conv5: torch.Tensor) -> torch.Tensor:
        """pool5 to the 6 x 6 grid fc6 expects, channels-last (oneDNN's fast layout for the
        max-pool of many RoIs; the same values as NCHW)."""
        return self.pool(self.features[12](conv5.contiguous(memory_format=torch.channels_last)))

    def fc(self, pool5: torch.Tensor) -> torch.Tensor:
        """fc6 (+ReLU, dropout in training) and fc7: the feature vector x of eq. 1."""
        return self.fc_head(self.fc6_out(self.dropout(torch.flatten(pool5, 1))))

    def fc6_out(self, flat: torch.Tensor) -> torch.Tensor:
        """fc6 before its ReLU on flattened pool5 rows ``(N, 9216)``: the values of
        ``self.fc6(flat)``, computed where it is fastest. Without autograd, float32 on the
        CPU: oneDNN's linear (:func:`linear_onednn`), never slower than MKL's forms below in
        ``python -m bench.bench_fc6``. Otherwise (training, float64, a GPU):
        :func:`linear_weight_left` on rows zero-padded to a multiple of ``FC6_ROW_BLOCK``
        (MKL's sgemm is markedly slower for row counts just under a multiple of 16)."""
        if _onednn_applies(self.fc6, flat) and not ONEDNN_FAILURES:
            try:
                return linear_onednn(self.fc6, flat)
            except Exception as exc:  # noqa: BLE001 -- a private op: any change of torch's
                ONEDNN_FAILURES.append(f"{type(exc).__name__}: {exc}")
                warnings.warn(
                    f"oneDNN's linear (torch.ops.mkldnn._linear_pointwise, a private op) "
                    f"failed ({ONEDNN_FAILURES[0]}): fc6 runs through torch's public matmul "
                    "from now on, slower and with the same values up to rounding",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return linear_weight_left(self.fc6, flat, FC6_ROW_BLOCK)

    def fc_head(self, fc6_out: torch.Tensor) -> torch.Tensor:
        """ReLU (+dropout in training) and fc7 on fc6's pre-activation output: ``fc``'s tail,
        so the online step can back-propagate from fc6's output (see ``finetune``)."""
        return self.fc7_out(self.dropout(torch.relu(fc6_out)))

    def fc7_out(self, act: torch.Tensor) -> torch.Tensor:
        """fc7 on its input rows (fc6's activations): the feature vector x of eq. 1."""
        return linear_weight_left(self.fc7, act)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, S, S)`` patches -> ``(B, fc7_dim)`` features."""
        return self.fc(self.pool5(self.conv5(images)))

    def fc_parameters(self) -> list[nn.Parameter]:
        """The parameters updated in phase 2 and online (sections 3.2, 3.3: fc layers only)."""
        return [*self.fc6.parameters(), *self.fc7.parameters()]


def linear_weight_left(layer: nn.Linear, rows: torch.Tensor, row_block: int = 1) -> torch.Tensor:
    """``layer(rows)`` computed as ``(W x^T + b)^T`` on ``rows`` zero-padded to a multiple of
    ``row_block``: the same values; for the few dozen rows of a tracking frame MKL's sgemm is
    faster with the weight as the left operand (``python -m bench.bench_fc6``)."""
    pad = -len(rows) % row_block
    padded = torch.nn.functional.pad(rows, (0, 0, 0, pad)) if pad else rows
    return torch.addmm(layer.bias[:, None], layer.weight, padded.T).T[: len(rows)]


def linear_onednn(layer: nn.Linear, rows: torch.Tensor) -> torch.Tensor:
    """``layer(rows)`` by oneDNN's linear primitive through torch's own binding
    (``torch.ops.mkldnn._linear_pointwise``, no post-op), reading the layer's dense weight in
    place: the online steps keep writing it as before. No autograd: see
    :func:`_onednn_applies`."""
    return torch.ops.mkldnn._linear_pointwise(rows, layer.weight, layer.bias, "none", [None], "")


def _onednn_applies(layer: nn.Linear, rows: torch.Tensor) -> bool:
    """Whether :func:`linear_onednn` computes ``layer(rows)`` here: float32 CPU tensors,
    torch built with oneDNN and the binding present, and no gradient wanted (the op has no
    backward)."""
    w = layer.weight
    return (
        HAS_ONEDNN_LINEAR
        and rows.device.type == "cpu"
        and w.device.type == "cpu"
        and rows.dtype == w.dtype == torch.float32
        and not (torch.is_grad_enabled() and (rows.requires_grad or w.requires_grad))
    )


def build_network(cfg: NetworkConfig, seed: int = 0) -> GDTNet:
    """A randomly initialised network (seeded); what runs when no weights are given."""
    fc7_dim = cfg.fc6_dim if cfg.feature == "pretrained_fc7" else cfg.fc7_dim
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GDTNet(cfg.fc6_dim, fc7_dim, cfg.dropout)


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file, not a weights file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle of arbitrary objects, not a torch file
        # torch's own message advises weights_only=False: never repeat that advice
        if "Unsupported global" in str(exc):
            reason = "it holds Python objects, not only tensors; refused (weights_only)"
        else:
            reason = "not a torch weights file (a state dict saved by torch.save), or truncated"
        raise WeightsError(f"{path}: {reason}") from None


def _check_shapes(path: Path, net: GDTNet, state: dict[str, torch.Tensor]) -> None:
    own = net.state_dict()
    for key, tensor in state.items():
        if key not in own:
            raise WeightsError(f"{path}: unexpected tensor '{key}'")
        if tuple(own[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: tensor '{key}' has shape {tuple(tensor.shape)}, "
                f"expected {tuple(own[key].shape)}"
            )
    missing = sorted(set(own) - set(state))
    if missing:
        raise WeightsError(f"{path}: missing tensor '{missing[0]}'")


def _from_torchvision(path: Path, net: GDTNet, state: dict[str, torch.Tensor]) -> dict:
    """Map a torchvision AlexNet state dict; fc7 is kept only if its width matches (4096)."""
    mapped = {k: v for k, v in state.items() if k.startswith("features.")}
    for src, dst in (("classifier.1", "fc6"), ("classifier.4", "fc7")):
        for suffix in ("weight", "bias"):
            key = f"{src}.{suffix}"
            if key not in state:
                raise WeightsError(f"{path}: torchvision AlexNet tensor '{key}' missing")
            mapped[f"{dst}.{suffix}"] = state[key]
    if mapped["fc7.weight"].shape[0] != net.fc7.out_features:
        # Section 3.1: fc7 reduced to 500-d -> re-initialised (the net's own seeded init).
        mapped["fc7.weight"] = net.fc7.weight.detach().clone()
        mapped["fc7.bias"] = net.fc7.bias.detach().clone()
    return mapped


def _conv_only(path: Path, net: GDTNet, state: dict[str, torch.Tensor]) -> dict:
    """A torchvision AlexNet state dict of conv1-5 alone (``features.*``, e.g. the ImageNet
    convolutions available offline): fc6/fc7 keep ``net``'s seeded init, said once."""
    warnings.warn(
        f"{path}: convolutions only (no classifier.* tensors): fc6/fc7 keep their seeded "
        "initialisation until phase 1 (gdt-flow pretrain) or phase 2 learns them",
        ConvOnlyWeights,
        stacklevel=3,
    )
    own = net.state_dict()
    return {**{k: v for k, v in own.items() if not k.startswith("features.")}, **state}


def load_pretrained(path: str | Path, net: GDTNet) -> GDTNet:
    """Load a torchvision-format AlexNet state dict or a gdt-flow checkpoint into ``net``.

    Loaded with ``torch.load(..., weights_only=True)``; a wrong or truncated file raises
    :class:`WeightsError` naming the file.
    """
    path = Path(path)
    data = _load_file(path)
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(data).__name__}")
    if data.get("format") == CHECKPOINT_FORMAT:
        state = data["state_dict"]
    elif any(k.startswith("classifier.") for k in data):
        state = _from_torchvision(path, net, data)
    elif data and all(k.startswith("features.") for k in data):
        state = _conv_only(path, net, data)
    else:
        state = data
    _check_shapes(path, net, state)
    net.load_state_dict(state)
    return net


def save_checkpoint(net: GDTNet, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a gdt-flow checkpoint (plain tensors and strings: loadable with weights_only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "state_dict": net.state_dict(), **(extra or {})}
    torch.save(payload, path)
    return path
