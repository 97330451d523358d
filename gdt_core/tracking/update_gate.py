"""Section 4's gate of the online update (stage 2): "the parameters of fully connected layers
are only updated when the tracking score is not negative and similarities between current
frame and last updated frame is above a similarity threshold"."""

from __future__ import annotations

import torch

from gdt_core.config import OnlineConfig
from gdt_core.tracking.finetune import cosine_similarity


class UpdateGate:
    """Passes a frame when ``online.backprop`` is on, S(x*) >= ``online.score_threshold``
    and the cosine similarity of x*'s features to those of the last frame that passed (the
    first frame's target at the start) is >= ``online.similarity_threshold``; a frame that
    passes becomes the last updated one. ``updates`` counts them."""

    def __init__(self, online: OnlineConfig, first_feature: torch.Tensor) -> None:
        self.online = online
        self.last_feature = first_feature.clone()
        self.updates = 0

    def passes(self, feature: torch.Tensor, score: float) -> bool:
        o = self.online
        learn = (
            o.backprop
            and o.iterations_per_frame > 0
            and score >= o.score_threshold
            and cosine_similarity(feature, self.last_feature) >= o.similarity_threshold
        )
        if learn:
            self.last_feature = feature.clone()
            self.updates += 1
        return learn
