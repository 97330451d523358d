"""Candidate features: pool5 of many boxes in one frame, by two interchangeable paths.

* ``crop`` (the paper's, section 3.1): every box is cropped and resized to ``input_size`` x
  ``input_size`` and runs through the whole convolutional stack.
* ``pooled`` (fast): a region covering the boxes is resampled once, so that a box of the
  reference size spans ``pooled_target_size`` pixels, conv1-conv5 and pool5's max-pool run
  once over it (:class:`Conv5Map`), and each box's pooled cells are read by bilinear
  interpolation (``grid_sample``) where its own crop's pooling windows lie, then pool5's
  average as usual. The tracker reads a frame's candidates and its samples from one map.

Both return ``(N, 256, 6, 6)`` pool5 tensors; fc6/fc7 (the trained part) run on those. Pixels
outside the image are zero after normalisation (the mean colour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gdt_core.network.network import POOL5_SIZE, GDTNet

CONV5_STRIDE = 16  # AlexNet: conv1 stride 4, two stride-2 max-pools
CONV5_OFFSET = 15.5  # centre of conv5 cell 0 in input pixels (continuous coordinates)
CROP_CHUNK = 64  # boxes per forward pass on the crop path (bounds memory)


@dataclass(frozen=True)
class _Pool:
    kernel_size: int
    stride: int


def _pool5_layer(net: GDTNet) -> _Pool:
    """pool5's max-pool window (AlexNet's: 3, stride 2) as plain ints."""
    pool = net.features[12]
    if not isinstance(pool, torch.nn.MaxPool2d):
        raise TypeError(f"features[12] is {type(pool).__name__}, not pool5's MaxPool2d")
    kernel, stride = pool.kernel_size, pool.stride
    return _Pool(int(kernel if isinstance(kernel, int) else kernel[0]),
                 int(stride if isinstance(stride, int) else stride[0]))  # fmt: skip


def conv5_size(input_size: int) -> int:
    """Side of AlexNet's conv5 map for a square input (conv1 k11 s4 p2, two k3 s2 pools)."""
    c1 = (input_size + 4 - 11) // 4 + 1
    return ((c1 - 3) // 2 + 1 - 3) // 2 + 1


def _resample(frame: torch.Tensor, xs: np.ndarray, ys: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``frame`` (1, C, H, W) at pixel-centre grids ``xs`` (N, Wo),
    ``ys`` (N, Ho) in continuous pixel coordinates -> (N, C, Ho, Wo). The grid's two axes go
    to the device in one copy and are spread there (box geometry stays in numpy: on a GPU each
    small tensor operation costs more host time than its arithmetic)."""
    h, w = frame.shape[-2:]
    wo, ho = xs.shape[1], ys.shape[1]
    both = torch.from_numpy(np.concatenate([2 * xs / w - 1, 2 * ys / h - 1], axis=1))
    both = both.to(device=frame.device, dtype=frame.dtype)
    gx, gy = both[:, None, :wo].expand(-1, ho, -1), both[:, wo:, None].expand(-1, -1, wo)
    grid = torch.stack([gx, gy], dim=-1)
    src = frame.expand(len(grid), -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _pixel_grid(start: np.ndarray, length: np.ndarray, n: int) -> np.ndarray:
    """Centres of ``n`` equal cells covering ``[start, start + length]`` for each row."""
    return start[:, None] + length[:, None] * ((np.arange(n) + 0.5) / n)


def crop_pool5(
    net: GDTNet, frame: torch.Tensor, boxes: np.ndarray, input_size: int
) -> torch.Tensor:
    """The paper's path: crop each box, resize to ``input_size``^2, conv1-pool5."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = []
    for first in range(0, len(b), CROP_CHUNK):
        part = b[first : first + CROP_CHUNK]
        xs = _pixel_grid(part[:, 0], part[:, 2], input_size)
        ys = _pixel_grid(part[:, 1], part[:, 3], input_size)
        out.append(net.pool5(net.conv5(_resample(frame, xs, ys))))
    return torch.cat(out)


@dataclass(frozen=True)
class Conv5Map:
    """pool5's max-pool taken on the conv5 map of one region of a frame: frame pixel ``x``
    lies at region pixel ``(x - x0) * sx`` (``y`` at ``(y - y0) * sy``), whose conv5 cell
    index ``j`` is at index ``j * upsample`` of ``pooled`` (see :func:`region_conv5`)."""

    pooled: torch.Tensor  # (1, 256, (H5 - 1) * upsample + 1, (W5 - 1) * upsample + 1)
    upsample: int
    x0: float
    y0: float
    sx: float
    sy: float


def region_conv5(
    net: GDTNet,
    frame: torch.Tensor,
    region: tuple[float, float, float, float],
    ref_size: tuple[float, float],
    target_size: int,
    input_size: int,
) -> Conv5Map:
    """conv1-conv5 once over ``region`` ``(x0, y0, x1, y1)`` of ``frame``, scaled by
    ``target_size / ref_size`` per axis (a box of the reference size spans ``target_size``
    pixels, as a crop's resize makes it span ``input_size``), then pool5's max-pool as a
    filter: the map upsampled (bilinear) ``round(input_size / target_size)`` times, so its
    cells lie about as far apart as a crop's conv5 cells do, and max-filtered over pool5's
    3 x 3 window at stride 1."""
    x0, y0, x1, y1 = (float(v) for v in region)
    sx, sy = target_size / ref_size[0], target_size / ref_size[1]
    wr = max(math.ceil((x1 - x0) * sx), target_size)
    hr = max(math.ceil((y1 - y0) * sy), target_size)
    xs = x0 + (np.arange(wr)[None] + 0.5) / sx
    ys = y0 + (np.arange(hr)[None] + 0.5) / sy
    conv5 = net.conv5(_resample(frame, xs, ys))
    up = max(1, round(input_size / target_size))
    if up > 1:
        h5, w5 = conv5.shape[-2:]
        size = ((h5 - 1) * up + 1, (w5 - 1) * up + 1)
        conv5 = F.interpolate(conv5, size=size, mode="bilinear", align_corners=True)
    k = _pool5_layer(net).kernel_size
    pooled = F.max_pool2d(conv5, k, stride=1, padding=k // 2)
    return Conv5Map(pooled, up, x0, y0, sx, sy)


class PooledRegion:
    """The pooled path's pool5 reads from one region of a frame, through an image pyramid
    (section 3.3: "the sampling is done at multiple scales by building an image pyramid"):
    level ``k`` is the region resampled so that a box ``levels[k]`` times the reference size
    spans ``target_size`` pixels, convolved once (:func:`region_conv5`) when first read. Each
    box is read from the level nearest its width (in log scale), so the candidates of every
    scale are read with the same geometry, as the crop path reads them. With one level
    (``levels = [1]``) every box comes from the map scaled for the reference box: smaller
    boxes read finer, larger ones coarser, which biases the scale choice."""

    def __init__(
        self,
        net: GDTNet,
        frame: torch.Tensor,
        region: tuple[float, float, float, float],
        ref_size: tuple[float, float],
        levels: np.ndarray,
        target_size: int,
        input_size: int,
    ) -> None:
        self.net, self.frame, self.region = net, frame, region
        self.ref_size, self.levels = ref_size, np.asarray(levels, dtype=np.float64)
        self.target_size, self.input_size = target_size, input_size
        self._maps: dict[int, Conv5Map] = {}

    def level_map(self, k: int) -> Conv5Map:
        """Level ``k``'s map (computed once)."""
        if k not in self._maps:
            f = self.levels[k]
            size = (self.ref_size[0] * f, self.ref_size[1] * f)
            with torch.no_grad():
                self._maps[k] = region_conv5(
                    self.net, self.frame, self.region, size, self.target_size, self.input_size
                )
        return self._maps[k]

    def __call__(self, boxes: np.ndarray) -> torch.Tensor:
        """pool5 of ``boxes`` flattened to fc6's ``(N, 9216)`` rows, in their order."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        log_scale = np.log(b[:, 2:3] / self.ref_size[0])
        nearest = np.argmin(np.abs(log_scale - np.log(self.levels)[None]), axis=1)
        parts = []
        for k in np.unique(nearest):
            rows = np.flatnonzero(nearest == k)
            read = read_pool5(self.net, self.level_map(int(k)), b[rows], self.input_size)
            parts.append((rows, torch.flatten(read, 1)))
        if len(parts) == 1:
            return parts[0][1]
        out = parts[0][1].new_empty((len(b), parts[0][1].shape[1]))
        for rows, got in parts:
            out[torch.as_tensor(rows, device=out.device)] = got
        return out


def _adaptive_windows(cells: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """``AdaptiveAvgPool``'s windows from ``cells`` to ``out``: output ``a`` averages cells
    ``floor(a cells / out)`` to ``ceil((a + 1) cells / out) - 1``. Returns their indices
    ``(out, widest)`` (short windows padded with cell 0) and weights (``1 / width``, 0 on
    the padding)."""
    first = (np.arange(out) * cells) // out
    width = -((-(np.arange(out) + 1) * cells) // out) - first
    offset = np.arange(width.max())
    valid = offset[None] < width[:, None]
    return np.where(valid, first[:, None] + offset, 0), valid / width[:, None]


def _axis_taps(j: np.ndarray, length: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Along one axis of the map (``length`` cells), the cells and weights that make each of
    ``out`` pool5 cells from fractional read positions ``j`` ``(N, p)``: bilinear reads
    (positions clamped to the map, as ``grid_sample``'s border padding does) averaged over
    pool5's adaptive windows. Returns ``(N, out, 2 * widest)`` indices and weights."""
    j = np.clip(j, 0, length - 1)
    lo = np.floor(j)
    frac = j - lo
    lo = lo.astype(np.int32)
    cells = np.stack([lo, np.minimum(lo + 1, length - 1)], axis=-1)  # (N, p, 2)
    weights = np.stack([1 - frac, frac], axis=-1)
    window, share = _adaptive_windows(j.shape[1], out)  # (out, widest)
    n = len(j)
    return (
        cells[:, window].reshape(n, out, -1),
        (weights[:, window] * share[None, :, :, None]).reshape(n, out, -1),
    )


def read_pool5(net: GDTNet, cmap: Conv5Map, boxes: np.ndarray, input_size: int) -> torch.Tensor:
    """pool5 of each box from ``cmap``: its crop's 7 x 7 max-pooled cells read bilinearly at
    the centres of the crop's pooling windows (clamped at the map's edge: boxes should lie
    inside the region), then pool5's average to 6 x 6 as on the crop path. Both steps are
    linear in the map, so each pool5 cell is one weighted sum of at most 16 map cells,
    taken for all boxes by one ``embedding_bag`` (faster than ``grid_sample`` then the
    average pool; the same values up to float rounding).
    Returned channels-last, as :meth:`GDTNet.pool5` returns the crop path's."""
    pooled, up = cmap.pooled, cmap.upsample
    pool = _pool5_layer(net)
    hp, wp = pooled.shape[-2:]
    p = (conv5_size(input_size) - pool.kernel_size) // pool.stride + 1  # 7 pooled cells
    # pooled cell i is centred on the crop's conv5 cell  stride * i + kernel // 2
    centres = CONV5_OFFSET + CONV5_STRIDE * (pool.stride * np.arange(p) + pool.kernel_size // 2)
    bt = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    # crop pixel u of a box -> region pixel (x - x0) * sx + u * (w * sx / input_size)
    px = ((bt[:, 0] - cmap.x0) * cmap.sx)[:, None] + centres * (bt[:, 2:3] * cmap.sx / input_size)
    py = ((bt[:, 1] - cmap.y0) * cmap.sy)[:, None] + centres * (bt[:, 3:4] * cmap.sy / input_size)
    # index into ``pooled``, fractional
    ix, wx = _axis_taps((px - CONV5_OFFSET) / CONV5_STRIDE * up, wp, POOL5_SIZE)
    iy, wy = _axis_taps((py - CONV5_OFFSET) / CONV5_STRIDE * up, hp, POOL5_SIZE)
    n, kx, ky = len(bt), ix.shape[-1], iy.shape[-1]
    cells = (iy[:, :, None, :, None] * wp + ix[:, None, :, None, :]).reshape(-1, ky * kx)
    weights = (wy[:, :, None, :, None] * wx[:, None, :, None, :]).reshape(-1, ky * kx)
    channels = pooled.shape[1]
    table = pooled[0].permute(1, 2, 0).reshape(hp * wp, channels)  # a view if channels-last
    dev = pooled.device
    summed = F.embedding_bag(
        torch.from_numpy(cells).to(dev),
        table,
        mode="sum",
        per_sample_weights=torch.from_numpy(weights).to(device=dev, dtype=pooled.dtype),
    )
    return summed.view(n, POOL5_SIZE, POOL5_SIZE, channels).permute(0, 3, 1, 2)
