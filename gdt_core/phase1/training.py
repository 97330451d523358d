"""One worker's phase-1 SGD (section 3.2, "obj-general"): the loop, its state, its speed.

Used by Ray Train's workers (:mod:`workflows.pretrain.pretrain_job`, DDP through ``wrap``) and
by the device check (``bench/device_phase1.py``), which runs without Ray or MLflow.

* The objective and SGD are :mod:`gdt_core.phase1.objectness`'s with ``phase1.*``
  (``learning_rate``, ``momentum``, ``weight_decay``), on ``phase1.batch_size`` patches per
  step split across the workers.
* Determinism: step ``s`` of worker ``rank`` draws its batch from
  ``numpy.random.default_rng([seed, rank, s])`` and seeds torch's dropout from it, so a run
  resumed from a checkpoint taken at step ``k`` (model, optimizer momentum, ``k``) continues
  exactly as one that never stopped (on the CPU; GPU kernels may round differently).
* Speed (:func:`speed_settings`): bf16 autocast (``phase1.precision``), channels-last
  convolutions, ``torch.compile`` (``phase1.compile``) and, chosen by the caller through the
  pool, patches resident on the device (:mod:`gdt_core.phase1.resident`). The loss and
  accuracy are summed on the device and read only at logging steps, so the host never waits
  for the GPU in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gdt_core.config import Config
from gdt_core.network.network import GDTNet
from gdt_core.phase1.feature_cache import CachedPool
from gdt_core.phase1.objectness import ObjectnessNet, PatchPool, SamplePool, objectness_step
from gdt_core.phase1.resident import DoesNotFit, ResidentPatchPool

EVAL_CHUNK = 256  # held-out patches per forward pass
TRAIN_STATE = "train_state.pt"

Reduce = Callable[[torch.Tensor], torch.Tensor]  # sums a tensor over the workers


@dataclass(frozen=True)
class SpeedSettings:
    """How the steps run on a device (``phase1.resident``, ``precision``, ``compile``)."""

    resident: str  # on, off, or auto: resident if the patches fit
    bf16: bool
    compile: bool


def speed_settings(cfg: Config, device: str | torch.device) -> SpeedSettings:
    """``phase1``'s ``auto`` values resolved for ``device``: a GPU gets resident patches (if
    they fit), bf16 and ``torch.compile``; a CPU none of them."""
    p1, gpu = cfg.phase1, torch.device(device).type == "cuda"
    resident = ("auto" if gpu else "off") if p1.resident == "auto" else p1.resident
    bf16 = p1.precision == "bf16" or (p1.precision == "auto" and gpu)
    compiled = p1.compile == "on" or (p1.compile == "auto" and gpu)
    return SpeedSettings(resident, bf16, compiled)


def training_pool(
    cfg: Config,
    patch_dir: str | Path,
    device: str | torch.device,
    rank: int = 0,
    world: int = 1,
    split: str = "all",
    cache: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> SamplePool:
    """The samples of worker ``rank`` in ``split``: cached features (``conv5``, ``fc``: from
    ``cache``), else patches resident on ``device`` (``phase1.resident``; ``auto`` falls back
    to per-batch decoding, said through ``log``, when they do not fit) or decoded per batch."""
    p1 = cfg.phase1
    if p1.train_layers != "all":
        if cache is None:
            raise ValueError(f"phase1.train_layers={p1.train_layers} needs its feature cache")
        return CachedPool(patch_dir, cache, rank, world, split, p1.holdout_fraction)
    jpegs = PatchPool(
        patch_dir,
        cfg.network.mean,
        cfg.network.std,
        rank,
        world,
        p1.worker_cpus,
        split,
        p1.holdout_fraction,
    )
    resident = speed_settings(cfg, device).resident
    if resident == "off":
        return jpegs
    try:
        return ResidentPatchPool(jpegs, device, threads=p1.worker_cpus)
    except DoesNotFit as exc:
        if resident == "on":
            raise
        log(f"worker {rank}: {exc}; decoding JPEGs per batch instead (phase1.resident=auto)")
        return jpegs


@dataclass(frozen=True)
class Due:
    """What is due after a step: logging always; held-out evaluation, a checkpoint."""

    step: int
    evaluate: bool
    save: bool
    last: bool


class Phase1Training:
    """The objectness model of ``net`` trained on ``pool`` on ``device``.

    ``state`` (from :meth:`state_dict`) resumes a run; ``wrap`` wraps the model for
    data-parallel training (Ray Train's ``prepare_model``, after the model is on ``device``);
    ``reduce`` sums the logged totals over the workers.
    """

    def __init__(
        self,
        cfg: Config,
        net: GDTNet,
        pool: SamplePool,
        device: str | torch.device,
        rank: int = 0,
        world: int = 1,
        state: dict[str, Any] | None = None,
        wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
        reduce: Reduce | None = None,
    ) -> None:
        p1 = cfg.phase1
        self.cfg, self.pool, self.rank = cfg, pool, rank
        self.device = torch.device(device)
        self.speed = speed_settings(cfg, self.device)
        self.model = ObjectnessNet(net, cfg.seed, p1.train_layers)
        if state is not None:
            self.model.load_state_dict(state["model"])
        self.model.to(self.device)
        if p1.train_layers != "fc":
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        wrapped = wrap(self.model) if wrap is not None else self.model
        self.forward = torch.compile(wrapped) if self.speed.compile else wrapped
        trained = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(
            trained,
            lr=p1.learning_rate,
            momentum=p1.momentum,
            weight_decay=p1.weight_decay,
            fused=self.device.type == "cuda" or None,
        )
        if state is not None:
            self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"]) if state is not None else 0
        self.per_worker = max(1, p1.batch_size // world)
        self.reduce = reduce
        self._window = torch.zeros(3, dtype=torch.float64, device=self.device)
        self._tick = time.perf_counter()

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.speed.bf16)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s batch; seeds torch (dropout) for that step too."""
        rng = np.random.default_rng([self.cfg.seed, self.rank, step])
        torch.manual_seed(int(rng.integers(2**62)))
        return self.pool.batch(rng, self.per_worker, self.device)

    def train_step(self) -> torch.Tensor:
        """One SGD step; its loss (a device tensor, not read here)."""
        inputs, labels = self.batch(self.step)
        with self._autocast():
            loss, correct = objectness_step(self.forward, inputs, labels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        n = len(labels)  # a number, not a tensor: no copy to the device, no wait for it
        self._window[0] += loss.detach().double() * n
        self._window[1] += correct
        self._window[2] += n
        return loss.detach()

    def run(self) -> Iterator[Due]:
        """Train to ``phase1.iterations``, yielding after each step where logging is due."""
        p1 = self.cfg.phase1
        while self.step < p1.iterations:
            self.train_step()
            last = self.step == p1.iterations
            save = last or self.step % p1.checkpoint_every == 0
            evaluate = last or self.step % p1.eval_every == 0
            if save or evaluate or self.step % p1.log_every == 0:
                yield Due(self.step, evaluate, save, last)

    def window_metrics(self) -> dict[str, float]:
        """``loss``, ``accuracy`` and ``patches_per_s`` (all workers) since the last call."""
        totals = self.reduce(self._window) if self.reduce is not None else self._window
        loss_sum, n_correct, n = totals.tolist()  # waits for the device
        now = time.perf_counter()
        rate = n / (now - self._tick)
        self._window.zero_()
        self._tick = now
        return {"loss": loss_sum / n, "accuracy": n_correct / n, "patches_per_s": rate}

    @torch.no_grad()
    def heldout_metrics(self, pool: SamplePool | None) -> dict[str, float]:
        """Loss and accuracy over every held-out patch (all workers' shares), dropout off;
        ``{}`` when no worker holds one. Its time is not counted in ``patches_per_s``."""
        start = time.perf_counter()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        if pool is not None:
            self.model.eval()
            for inputs, labels in pool.chunks(EVAL_CHUNK, self.device):
                with self._autocast():
                    logits = self.model(inputs).float()
                loss = F.cross_entropy(logits, labels, reduction="sum")
                correct = (logits.argmax(dim=1) == labels).sum()
                totals += torch.stack(
                    [loss.double(), correct.double(), totals.new_tensor(len(labels))]
                )
            self.model.train()
        if self.reduce is not None:
            totals = self.reduce(totals)
        loss_sum, n_correct, n = totals.tolist()
        self._tick += time.perf_counter() - start
        return {"heldout_loss": loss_sum / n, "heldout_accuracy": n_correct / n} if n else {}

    def state_dict(self) -> dict[str, Any]:
        """What resumes the run: the step, the model (head included), the optimizer."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
        }

    def save_state(self, directory: str | Path) -> Path:
        """:meth:`state_dict` as ``<directory>/train_state.pt`` (tensors only)."""
        path = Path(directory) / TRAIN_STATE
        torch.save(self.state_dict(), path)
        return path


def load_state(directory: str | Path) -> dict[str, Any]:
    """A state saved by :meth:`Phase1Training.save_state` (``weights_only``)."""
    return torch.load(Path(directory) / TRAIN_STATE, map_location="cpu", weights_only=True)
