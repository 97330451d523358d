"""Frame conversion at the tracker boundary: any OpenCV frame -> BGR uint8 -> network tensor."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 BGR view of an OpenCV frame (grayscale and BGRA accepted)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 images, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return arr[:, :, :3]
    raise ValueError(f"frames must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}")


def frame_tensor(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], device: str = "cpu"
) -> torch.Tensor:
    """Normalised RGB float tensor ``(1, 3, H, W)`` (0 = the mean colour, section 3.1 input)."""
    return batch_tensor(ensure_bgr(image)[None], mean, std, device)


def batch_tensor(
    bgr: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """:func:`frame_tensor` of a ``(B, H, W, 3)`` uint8 BGR stack -> ``(B, 3, H, W)``: sent
    as uint8, reordered and normalised on ``device`` (no float copy made on the host)."""
    import torch  # here, so the OpenCV baselines (which share ensure_bgr) never import torch

    t = torch.from_numpy(bgr).to(device).permute(0, 3, 1, 2).flip(1)
    shift, scale = normalisation(tuple(mean), tuple(std), str(device))
    return torch.addcmul(shift, t.float(), scale)


@lru_cache(maxsize=8)
def normalisation(
    mean: tuple[float, ...], std: tuple[float, ...], device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pixel / 255 - mean) / std`` as ``shift + pixel * scale``: per-channel ``(3, 1, 1)``
    tensors made once per device (not sent to a GPU with every frame)."""
    import torch

    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    return (-m / s).to(device), (1 / (255.0 * s)).to(device)
