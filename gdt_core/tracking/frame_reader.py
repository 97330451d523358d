"""What the tracker reads of a frame (sections 3.1-3.3), shared by both trackers: the network
set up for tracking, the frame as its input, the working region, pool5 of boxes (the paper's
crop per box, or reads from conv passes over the region: ``tracker.candidate_features``) and
the samples around a box (positives, near and far negatives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gdt_core.config import Config
from gdt_core.network.features import PooledRegion, crop_pool5
from gdt_core.network.images import frame_tensor
from gdt_core.network.network import GDTNet, build_network, load_pretrained
from gdt_core.tracking.sampling import (
    Bounds,
    sample_far_negatives,
    sample_near_negatives,
    sample_positives,
    scale_factors,
    working_region,
)

Pool5Reader = Callable[[np.ndarray], torch.Tensor]  # boxes (N, 4) -> pool5 rows (N, 9216)


def tracking_network(config: Config, weights: str | Path | None) -> tuple[GDTNet, dict]:
    """The network of section 3.1 on ``tracker.device``, in eval mode (dropout belongs to
    phase 1), its convolutions frozen (phase 2 and the online steps tune the fc layers only)
    and stored channels-last like the activations (oneDNN otherwise re-orders every weight on
    every call); and a copy of its weights as loaded, which ``init`` starts from."""
    device = torch.device(config.tracker.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "tracker.device=cuda, but torch sees no CUDA GPU here (a CPU build of torch, "
            "or a Ray actor/trial given no GPU: ray.actor_num_gpus / --trial-gpus)"
        )
    net = build_network(config.network, config.seed)
    if weights is not None:
        load_pretrained(weights, net)
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    net = net.to(device).eval()
    net.features.requires_grad_(False)
    net.features.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
    return net, initial


class FrameReader:
    """Frames, regions, pool5 reads and samples for ``net`` under ``config``."""

    def __init__(self, config: Config, net: GDTNet) -> None:
        self.cfg = config
        self.net = net
        self.device = str(next(net.parameters()).device)

    def frame(self, image: np.ndarray) -> torch.Tensor:
        """An OpenCV frame as the network's normalised input ``(1, 3, H, W)``."""
        n = self.cfg.network
        return frame_tensor(image, n.mean, n.std, self.device)

    def region(self, box: np.ndarray, candidates: np.ndarray) -> Bounds:
        """The working region of a frame: every candidate, positive and negative of ``box``."""
        s = self.cfg.sampling
        return working_region(box, candidates, s.positive_iou, s.negative_max_distance)

    def pool5(self, frame: torch.Tensor, region: Bounds, ref: np.ndarray) -> Pool5Reader:
        """pool5 of boxes inside ``region`` of ``frame``, flattened to fc6's ``(N, 9216)``
        rows: the paper's crops, or reads from conv passes over ``region`` (pooled path), one
        per level of the candidates' scale pyramid around the reference box ``ref``
        (``tracker.pooled_pyramid``), else one scaled for ``ref``."""
        size, tr, c = self.cfg.network.input_size, self.cfg.tracker, self.cfg.candidates
        if tr.candidate_features == "crop":
            return lambda boxes: torch.flatten(crop_pool5(self.net, frame, boxes, size), 1)
        pyramid = tr.pooled_pyramid and c.num_scales > 1
        levels = scale_factors(ref, c.num_scales, c.scale_step) if pyramid else np.ones(1)
        return PooledRegion(
            self.net, frame, region, (ref[2], ref[3]), levels, tr.pooled_target_size, size
        )

    def samples(
        self,
        rng: np.random.Generator,
        read: Pool5Reader,
        box: np.ndarray,
        n_pos: int,
        n_neg: int,
        image_size: tuple[int, int],
        bounds: Bounds,
    ) -> torch.Tensor:
        """pool5 of ``n_pos`` positives then ``n_neg`` negatives (``sampling.
        near_negative_fraction`` of them near ``box``, the rest far) sampled around ``box``."""
        s = self.cfg.sampling
        pos = sample_positives(rng, box, n_pos, s.positive_iou)
        n_near = round(n_neg * s.near_negative_fraction)
        near = sample_near_negatives(rng, box, n_near, s, bounds)
        far = sample_far_negatives(rng, box, n_neg - len(near), s, image_size, bounds)
        with torch.no_grad():
            return read(np.concatenate([pos, near, far]))
