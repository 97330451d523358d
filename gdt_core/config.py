"""Typed configuration: the paper's hyper-parameters as one object.

``configs/default.yaml`` is the single source of the values (each commented with the paper's
section); this module only defines their types and ranges, loads YAML safely, layers overlay
files and ``--set key=value`` overrides on top, and rejects unknown keys and out-of-range
values with an error naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gdt_core.resources import config_dir

CONFIG_DIR = config_dir()
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict:
    return {"lo": lo, "hi": hi, "lo_open": lo_open}


def _choices(*values: str) -> dict:
    return {"choices": values}


def _f(**meta: Any) -> Any:
    return field(metadata=meta)


@dataclass(frozen=True)
class NetworkConfig:
    """Section 3.1: AlexNet layout with fc7 reduced to 500 dimensions."""

    input_size: int = _f(**_range(67))
    fc6_dim: int = _f(**_range(1))
    fc7_dim: int = _f(**_range(1))
    feature: str = _f(**_choices("fc7", "pretrained_fc7"))
    dropout: float = _f(**_range(0.0, 1.0))
    mean: list[float] = _f()
    std: list[float] = _f()


@dataclass(frozen=True)
class GaussianConfig:
    """Eqs. 3, 6, 7: the naive-Bayes layer's Gaussians and their online update."""

    gamma: float = _f(**_range(0.0, 1.0))
    variance_floor: float = _f(**_range(0.0, lo_open=True))
    eq7_form: str = _f(**_choices("moment_matching", "printed"))


@dataclass(frozen=True)
class SamplingConfig:
    """Sections 3.2-3.3: positives around the target, negatives far from it."""

    num_positives: int = _f(**_range(1))
    num_negatives: int = _f(**_range(1))
    positive_iou: float = _f(**_range(0.0, 1.0))
    negative_center_distance: float = _f(**_range(0.0))
    negative_max_distance: float = _f(**_range(0.0, lo_open=True))
    first_frame_positives: int = _f(**_range(1))
    first_frame_negatives: int = _f(**_range(1))
    near_negative_fraction: float = _f(**_range(0.0, 1.0))
    near_negative_max_iou: float = _f(**_range(0.0, 1.0))
    near_negative_scale: float = _f(**_range(1.0))
    near_negative_shift: float = _f(**_range(0.0))

    def __post_init__(self) -> None:
        # values that are only valid together (each alone is range-checked by its field)
        if self.negative_center_distance > self.negative_max_distance:
            raise ConfigError(
                f"sampling.negative_center_distance ({self.negative_center_distance:g}) > "
                f"sampling.negative_max_distance ({self.negative_max_distance:g}): negatives "
                "(box sizes from the target, per axis) would lie outside the region the "
                "tracker reads; raise sampling.negative_max_distance with it"
            )


@dataclass(frozen=True)
class CandidatesConfig:
    """Section 3.3 / 4: the candidate set X over a 3-scale pyramid."""

    num_scales: int = _f(**_range(1))
    scale_step: float = _f(**_range(0.0, lo_open=True))
    search_radius: float = _f(**_range(0.0))
    positions_per_scale: int = _f(**_range(1))
    scale_damping: float = _f(**_range(0.0, 1.0, lo_open=True))
    top_k: int = _f(**_range(1))


@dataclass(frozen=True)
class Phase1Config:
    """Section 3.2 phase 1 ("obj-general"): objectness fine-tuning of all layers (or, on a
    CPU, of the layers from conv5 or fc6 up)."""

    num_patches: int = _f(**_range(2))
    train_layers: str = _f(**_choices("all", "conv5", "fc"))
    cache_dtype: str = _f(**_choices("float16", "float32"))
    holdout_fraction: float = _f(**_range(0.0, 1.0))
    eval_every: int = _f(**_range(1))
    iterations: int = _f(**_range(1))
    batch_size: int = _f(**_range(1))
    learning_rate: float = _f(**_range(0.0, lo_open=True))
    momentum: float = _f(**_range(0.0, 1.0))
    weight_decay: float = _f(**_range(0.0))
    positive_fraction: float = _f(**_range(0.0, 1.0))
    positive_jitter: float = _f(**_range(0.0, 1.0))
    negative_max_iou: float = _f(**_range(0.0, 1.0))
    framing_fraction: float = _f(**_range(0.0, 1.0))
    framing_iou_min: float = _f(**_range(0.0, 1.0))
    framing_iou_max: float = _f(**_range(0.0, 1.0))
    min_box_size: int = _f(**_range(1))
    jpeg_quality: int = _f(**_range(1, 100))
    log_every: int = _f(**_range(1))
    checkpoint_every: int = _f(**_range(1))
    worker_cpus: int = _f(**_range(1))
    resident: str = _f(**_choices("auto", "on", "off"))
    precision: str = _f(**_choices("auto", "bf16", "fp32"))
    compile: str = _f(**_choices("auto", "on", "off"))

    def __post_init__(self) -> None:
        if self.framing_iou_min >= self.framing_iou_max:
            raise ConfigError(
                f"phase1.framing_iou_min ({self.framing_iou_min:g}) >= phase1.framing_iou_max "
                f"({self.framing_iou_max:g}): no box could be a framing negative"
            )


@dataclass(frozen=True)
class Phase2Config:
    """Section 3.2 phase 2 ("obj-specific"): first-frame fine-tuning of the fc layers."""

    enabled: bool = _f()
    max_iterations: int = _f(**_range(0))
    learning_rate: float = _f(**_range(0.0, lo_open=True))
    momentum: float = _f(**_range(0.0, 1.0))
    batch_size: int = _f(**_range(2))
    stop_margin: float = _f()


@dataclass(frozen=True)
class OnlineConfig:
    """Section 3.3 stage 2 and section 4: one fc-only iteration per confident frame."""

    backprop: bool = _f()
    iterations_per_frame: int = _f(**_range(0))
    learning_rate: float = _f(**_range(0.0, lo_open=True))
    score_threshold: float = _f()
    similarity_threshold: float = _f(**_range(-1.0, 1.0))


@dataclass(frozen=True)
class TrackerConfig:
    """How candidate features are computed and where."""

    candidate_features: str = _f(**_choices("crop", "pooled"))
    pooled_target_size: int = _f(**_range(16))
    pooled_pyramid: bool = _f()
    fc6_flush_rank: int = _f(**_range(0))
    device: str = _f(**_choices("cpu", "cuda"))
    torch_threads: int = _f(**_range(0))


@dataclass(frozen=True)
class RayConfig:
    """Resources of the Ray tasks, actors and Train workers."""

    address: str | None = _f()
    actor_num_cpus: float = _f(**_range(0.0))
    actor_num_gpus: float = _f(**_range(0.0))
    max_actors: int = _f(**_range(1))
    max_restarts: int = _f(**_range(0))
    max_task_retries: int = _f(**_range(-1))
    progress_every_s: float = _f(**_range(0.0, lo_open=True))
    patch_shards: int = _f(**_range(1))
    train_workers: int = _f(**_range(1))
    use_gpu: bool = _f()


@dataclass(frozen=True)
class MlflowConfig:
    """Where runs are logged."""

    tracking_uri: str | None = _f()
    experiment: str = _f()
    registered_model: str = _f()


@dataclass(frozen=True)
class Config:
    """The whole configuration; one object flows from the CLI into everything."""

    seed: int = _f(**_range(0))
    network: NetworkConfig = _f()
    gaussian: GaussianConfig = _f()
    sampling: SamplingConfig = _f()
    candidates: CandidatesConfig = _f()
    phase1: Phase1Config = _f()
    phase2: Phase2Config = _f()
    online: OnlineConfig = _f()
    tracker: TrackerConfig = _f()
    ray: RayConfig = _f()
    mlflow: MlflowConfig = _f()

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """``{"section.key": value}`` form, e.g. for MLflow params."""
        return flatten(self.to_dict())

    def replace(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with dotted-key overrides applied and validated."""
        data = self.to_dict()
        for key, value in overrides.items():
            _set_dotted(data, key, value, source="override")
        return from_dict(data)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` of a nested mapping (a config's ``to_dict()``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def nearest_key(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'K'?)`` for the known dotted key nearest ``key`` -- one with the same
    last part first (``tracker.gamma`` -> ``gaussian.gamma``), else the closest spelling --
    or ``""`` when none is near."""
    known = list(known)
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in known if k.rsplit(".", 1)[-1] == leaf]
    near = same_leaf or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _set_dotted(data: dict, key: str, value: Any, *, source: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            hint = nearest_key(key, flatten(data))
            raise ConfigError(f"{source}: unknown key '{where}' (in '{key}'){hint}")
        node = child
    if parts[-1] not in node:
        hint = nearest_key(key, flatten(data))
        raise ConfigError(f"{source}: unknown key '{key}'{hint}")
    node[parts[-1]] = value


def _check_value(key: str, value: Any, tp: Any, meta: Mapping[str, Any], source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{source}: '{key}' must not be null")
    if type(None) in args:  # Optional[X]
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        return [_check_value(f"{key}[{i}]", v, args[0], {}, source) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, str):  # YAML 1.1 leaves exponents without a dot (1e-4) as text
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        bound = ">" if meta.get("lo_open") else ">="
        raise ConfigError(f"{source}: '{key}' = {value!r} out of range (must be {bound} {lo})")
    if hi is not None and value > hi:
        raise ConfigError(f"{source}: '{key}' = {value!r} out of range (must be <= {hi})")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{source}: '{key}' = {value!r} must be one of {list(meta['choices'])}")
    return value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: '{prefix.rstrip('.') or '<root>'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'")
    missing = sorted(set(fields) - set(data))
    if missing:
        raise ConfigError(f"{source}: missing key '{prefix}{missing[0]}'")
    kwargs = {}
    for name, f in fields.items():
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, data[name], f"{prefix}{name}.", source)
        else:
            kwargs[name] = _check_value(f"{prefix}{name}", data[name], tp, f.metadata, source)
    return cls(**kwargs)


def from_dict(data: Mapping[str, Any], source: str = "config") -> Config:
    """Build and validate a :class:`Config` from a complete nested dict."""
    return _build(Config, data, "", source)


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _merge(base: dict, overlay: Mapping[str, Any], prefix: str, source: str) -> None:
    for key, value in overlay.items():
        if key not in base:
            raise ConfigError(f"{source}: unknown key '{prefix}{key}'")
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            _merge(base[key], value, f"{prefix}{key}.", source)
        else:
            base[key] = value


def config_path(spec: str | Path) -> Path:
    """An overlay config: a YAML file, else a shipped one by name (``demo``, ``demo.yaml``,
    ``configs/demo.yaml``: what a checkout's path names, also where only a wheel is
    installed); a :class:`ConfigError` naming the shipped ones otherwise."""
    path = Path(spec)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    shipped = CONFIG_DIR / name
    if shipped.is_file() and len(path.parts) <= 2:  # "demo.yaml" or "configs/demo.yaml"
        return shipped
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"config file not found: {spec} (shipped configs: {names})")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set key=value``; the value is read as YAML (``0.9``, ``true``, ``[1,2]``)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(
    overlays: Iterable[str | Path] = (),
    overrides: Iterable[str] | Mapping[str, Any] = (),
    base: str | Path = DEFAULT_CONFIG,
) -> Config:
    """Load ``base`` (the paper's defaults), merge overlay YAML files, apply overrides.

    ``overrides`` are ``"section.key=value"`` strings (CLI ``--set``) or a dotted-key mapping.
    """
    data = _read_yaml(Path(base))
    _build(Config, data, "", str(base))  # the base itself must be complete and valid
    for spec in overlays:
        path = config_path(spec)
        _merge(data, _read_yaml(path), "", str(path))
    pairs = overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    for key, value in pairs:
        _set_dotted(data, key, value, source=f"--set {key}")
    return from_dict(data, source="config")
