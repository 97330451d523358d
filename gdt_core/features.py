"""Candidate features: pool5 of many boxes in one frame, by two interchangeable paths.

* ``crop`` (the paper's, section 3.1): every box is cropped and resized to ``input_size`` x
  ``input_size`` and runs through the whole convolutional stack.
* ``pooled`` (fast): the region covering all boxes is resampled once, so that a box of the
  reference size spans ``pooled_target_size`` pixels, conv1-conv5 run once over it, and each
  box's conv5 cells are read by bilinear interpolation (``grid_sample``) at exactly the
  positions its own crop would have produced, then pool5 as usual.

Both return ``(N, 256, 6, 6)`` pool5 tensors; fc6/fc7 (the trained part) run on those. Pixels
outside the image are zero after normalisation (the mean colour).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .network import GDTNet

CONV5_STRIDE = 16  # AlexNet: conv1 stride 4, two stride-2 max-pools
CONV5_OFFSET = 15.5  # centre of conv5 cell 0 in input pixels (continuous coordinates)
CROP_CHUNK = 64  # boxes per forward pass on the crop path (bounds memory)
MAX_REGION_PIXELS = 1024 * 1024  # larger pooled regions are split (bounds memory and time)


def conv5_size(input_size: int) -> int:
    """Side of AlexNet's conv5 map for a square input (conv1 k11 s4 p2, two k3 s2 pools)."""
    c1 = (input_size + 4 - 11) // 4 + 1
    return ((c1 - 3) // 2 + 1 - 3) // 2 + 1


def _resample(frame: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``frame`` (1, C, H, W) at pixel-centre grids ``xs`` (N, Wo),
    ``ys`` (N, Ho) in continuous pixel coordinates -> (N, C, Ho, Wo)."""
    h, w = frame.shape[-2:]
    gx = (2 * xs / w - 1)[:, None, :].expand(-1, ys.shape[1], -1)
    gy = (2 * ys / h - 1)[:, :, None].expand(-1, -1, xs.shape[1])
    grid = torch.stack([gx, gy], dim=-1)
    src = frame.expand(len(grid), -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _pixel_grid(start: torch.Tensor, length: torch.Tensor, n: int) -> torch.Tensor:
    """Centres of ``n`` equal cells covering ``[start, start + length]`` for each row."""
    steps = (torch.arange(n, dtype=start.dtype, device=start.device) + 0.5) / n
    return start[:, None] + length[:, None] * steps


def crop_pool5(
    net: GDTNet, frame: torch.Tensor, boxes: np.ndarray, input_size: int
) -> torch.Tensor:
    """The paper's path: crop each box, resize to ``input_size``^2, conv1-pool5."""
    b = torch.as_tensor(boxes, dtype=frame.dtype, device=frame.device)
    out = []
    for part in torch.split(b, CROP_CHUNK):
        xs = _pixel_grid(part[:, 0], part[:, 2], input_size)
        ys = _pixel_grid(part[:, 1], part[:, 3], input_size)
        out.append(net.pool5(net.conv5(_resample(frame, xs, ys))))
    return torch.cat(out)


def pooled_pool5(
    net: GDTNet,
    frame: torch.Tensor,
    boxes: np.ndarray,
    ref_size: tuple[float, float],
    input_size: int,
    target_size: int,
) -> torch.Tensor:
    """The fast path: one conv pass over the boxes' region, bilinear RoI reads of conv5.

    The region is scaled by ``target_size / ref_size`` (per axis, like the crop's resize); each
    box's ``conv5_size(input_size)``^2 grid of cells is read where its crop would put them.
    """
    b = np.asarray(boxes, dtype=np.float64)
    sx, sy = target_size / ref_size[0], target_size / ref_size[1]
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    x1, y1 = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
    wr = max(math.ceil((x1 - x0) * sx), target_size)
    hr = max(math.ceil((y1 - y0) * sy), target_size)
    if wr * hr > MAX_REGION_PIXELS and len(b) > 1:  # far-apart boxes: two smaller regions
        axis = 0 if wr >= hr else 1
        order = np.argsort(b[:, axis] + b[:, axis + 2] / 2, kind="stable")
        half = len(b) // 2
        parts = [order[:half], order[half:]]
        out = [pooled_pool5(net, frame, b[i], ref_size, input_size, target_size) for i in parts]
        return torch.cat(out)[np.argsort(np.concatenate(parts))]
    dt = dict(dtype=frame.dtype, device=frame.device)
    xs = x0 + (torch.arange(wr, **dt)[None] + 0.5) / sx
    ys = y0 + (torch.arange(hr, **dt)[None] + 0.5) / sy
    conv5 = net.conv5(_resample(frame, xs, ys))  # (1, 256, H5, W5)
    h5, w5 = conv5.shape[-2:]
    g = conv5_size(input_size)
    cells = CONV5_OFFSET + CONV5_STRIDE * torch.arange(g, **dt)  # crop pixels of its cells
    bt = torch.as_tensor(b, **dt)
    # box pixel u of the crop -> region pixel (x - x0) * sx + u * (w * sx / input_size)
    px = ((bt[:, 0] - x0) * sx)[:, None] + cells[None] * (bt[:, 2] * sx / input_size)[:, None]
    py = ((bt[:, 1] - y0) * sy)[:, None] + cells[None] * (bt[:, 3] * sy / input_size)[:, None]
    jx = (px - CONV5_OFFSET) / CONV5_STRIDE  # conv5 cell index, fractional
    jy = (py - CONV5_OFFSET) / CONV5_STRIDE
    gx = (2 * jx / max(w5 - 1, 1) - 1)[:, None, :].expand(-1, g, -1)
    gy = (2 * jy / max(h5 - 1, 1) - 1)[:, :, None].expand(-1, -1, g)
    grid = torch.stack([gx, gy], dim=-1)
    rois = F.grid_sample(
        conv5.expand(len(b), -1, -1, -1), grid, "bilinear", "border", align_corners=True
    )
    return net.pool5(rois)
