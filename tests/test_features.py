"""Candidate features: the pooled path reads conv5 where the crop path's crop puts it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdt_core.config import load_config
from gdt_core.network.features import PooledRegion, conv5_size, crop_pool5, read_pool5, region_conv5
from gdt_core.network.images import batch_tensor, ensure_bgr, frame_tensor
from gdt_core.network.network import build_network


@pytest.mark.parametrize("size", [67, 99, 131, 227, 256])
def test_conv5_size_matches_the_network(size):
    net = build_network(load_config().network)
    with torch.no_grad():
        assert net.conv5(torch.zeros(1, 3, size, size)).shape[-1] == conv5_size(size)


def test_pooled_features_approximate_crop_features_box_by_box():
    cfg = load_config()
    torch.manual_seed(0)
    net = build_network(cfg.network).eval()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    img = np.repeat(np.repeat(img[::4, ::4], 4, axis=0), 4, axis=1)  # blocky texture
    frame = frame_tensor(img, cfg.network.mean, cfg.network.std)
    boxes = np.array([[60, 40, 24, 20], [64, 38, 24, 20], [55, 47, 26.4, 22], [10, 80, 24, 20]])
    with torch.no_grad():
        crop = crop_pool5(net, frame, boxes, 131).flatten(1)
        cmap = region_conv5(net, frame, (10, 38, 84, 100), (24, 20), 131, 131)  # holds every box
        pooled = read_pool5(net, cmap, boxes, 131).flatten(1)
    same = torch.nn.functional.cosine_similarity(crop, pooled, dim=1)
    other = torch.nn.functional.cosine_similarity(crop, pooled.roll(1, dims=0), dim=1)
    assert same.min() > 0.85  # same box, two paths: close (context at the crop edge differs)
    assert (same > other).all()  # ... closer than any other box's features


def _grid_sample_pool5(net, cmap, boxes, input_size):
    """read_pool5 written the direct way: grid_sample each box's 7 x 7 read points (border
    padding), then the network's own adaptive average pool."""
    pooled, up, pool = cmap.pooled, cmap.upsample, net.features[12]
    hp, wp = pooled.shape[-2:]
    p = (conv5_size(input_size) - pool.kernel_size) // pool.stride + 1
    centres = 15.5 + 16 * (pool.stride * np.arange(p) + pool.kernel_size // 2)
    b = np.asarray(boxes, dtype=np.float64)
    px = ((b[:, 0] - cmap.x0) * cmap.sx)[:, None] + centres * (b[:, 2:3] * cmap.sx / input_size)
    py = ((b[:, 1] - cmap.y0) * cmap.sy)[:, None] + centres * (b[:, 3:4] * cmap.sy / input_size)
    gx = torch.from_numpy(2 * ((px - 15.5) / 16 * up) / (wp - 1) - 1)
    gy = torch.from_numpy(2 * ((py - 15.5) / 16 * up) / (hp - 1) - 1)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    rois = torch.nn.functional.grid_sample(
        pooled.expand(len(b), -1, -1, -1), grid, "bilinear", "border", align_corners=True
    )
    return net.pool(rois)


@pytest.mark.parametrize("input_size", [131, 227, 256])  # 7, 6 and 7 pooled cells per side
def test_read_pool5_is_bilinear_reads_then_the_average_pool(input_size):
    # read_pool5 folds the bilinear reads and pool5's average into one weighted sum per cell:
    # the values of reading then pooling, boxes inside the map and past its edge (clamped).
    cfg = load_config()
    net = build_network(cfg.network).double().eval()
    rng = np.random.default_rng(1)
    frame = torch.from_numpy(rng.normal(size=(1, 3, 90, 120)))
    with torch.no_grad():
        cmap = region_conv5(net, frame, (5.0, 4.0, 100.0, 80.0), (30, 26), 64, input_size)
    boxes = np.array([[20, 15, 30, 26], [21.3, 17.9, 31.1, 27.0], [80, 60, 30, 26], [0, 0, 9, 7]])
    got = read_pool5(net, cmap, boxes, input_size)
    want = _grid_sample_pool5(net, cmap, boxes, input_size)
    assert got.shape == want.shape == (4, 256, 6, 6)
    assert want.abs().max() > 0.1  # a real map, not zeros
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_frames_of_any_channel_layout_become_bgr():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert ensure_bgr(gray).shape == (3, 4, 3)
    assert ensure_bgr(np.zeros((3, 4, 4), np.uint8)).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="uint8"):
        ensure_bgr(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="frames must be"):
        ensure_bgr(np.zeros((3, 4, 2), np.uint8))


def test_frame_tensor_is_rgb_normalised_by_mean_and_std():
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[0, 1] = (255, 51, 0, 7)  # blue 1.0, green 0.2, red 0.0, alpha ignored
    t = frame_tensor(bgra, (0.5, 0.2, 0.1), (0.5, 0.25, 2.0))
    assert t.shape == (1, 3, 2, 3)
    # channels in RGB order: (red - 0.5) / 0.5, (green - 0.2) / 0.25, (blue - 0.1) / 2
    torch.testing.assert_close(t[0, :, 0, 1], torch.tensor([-1.0, 0.0, 0.45]))
    torch.testing.assert_close(t[0, :, 1, 2], torch.tensor([-1.0, -0.8, -0.05]))


def test_batch_tensor_is_frame_tensor_of_each_image():
    stack = np.random.default_rng(0).integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    each = torch.cat([frame_tensor(image, mean, std) for image in stack])
    torch.testing.assert_close(batch_tensor(stack, mean, std), each, rtol=0, atol=0)
    assert not torch.equal(each[0], each[1])  # distinct images, not one repeated


def _net_and_frame() -> tuple[torch.nn.Module, torch.Tensor]:
    cfg = load_config()
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    img = np.repeat(np.repeat(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), 4, 0), 4, 1)
    return build_network(cfg.network).eval(), frame_tensor(img, cfg.network.mean, cfg.network.std)


def test_pooled_region_reads_each_box_from_its_own_scale_level():
    # a pyramid of three levels: every box is read from the level nearest its width (log
    # scale), as a one-level region scaled for that level's size reads it, rows in input order
    net, frame = _net_and_frame()
    region, ref, levels = (5.0, 4.0, 100.0, 80.0), (30.0, 26.0), np.array([1.0, 0.8, 1.25])
    boxes = np.array(
        [[20, 20, 30, 26], [30, 25, 24, 20.8], [10, 15, 37.5, 32.5], [40, 30, 31, 27]], float
    )
    with torch.no_grad():
        got = PooledRegion(net, frame, region, ref, levels, 48, 131)(boxes)
        want = []
        for box, level in zip(boxes, [1.0, 0.8, 1.25, 1.0], strict=True):
            one = PooledRegion(net, frame, region, (ref[0] * level, ref[1] * level), [1.0], 48, 131)
            want.append(one(box[None]))
    torch.testing.assert_close(got, torch.cat(want))
    # and a level is not the single map: the smaller box reads differently from level 1's map
    with torch.no_grad():
        single = PooledRegion(net, frame, region, ref, [1.0], 48, 131)(boxes[1:2])
    assert (single - got[1:2]).abs().max() > 1e-3
