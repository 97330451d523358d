"""Sweep search spaces: ``configs/sweeps/<name>.yaml`` files, ``--values``, and Tune spaces.

A space file maps dotted config keys to a spec::

    gaussian.gamma:
      grid: [0.8, 0.9, 0.95, 0.99]   # the values of --search grid
      uniform: [0.8, 0.99]           # optional: the sampler of --search random

Samplers (``--search random``, and the ranges of ``--search optuna``, Optuna's TPE):
``uniform: [lo, hi]``, ``loguniform: [lo, hi]``, ``randint: [lo, hi]`` (both ends included)
or ``choice: [a, b, ...]``; for random search a key without one is drawn from its grid, TPE
needs one for every key. Values are checked against the config by each trial (a value out of
range fails that trial, recorded in Tune and MLflow, and the sweep goes on); keys are checked
here, before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gdt_core.config import CONFIG_DIR, Config, ConfigError

SWEEPS_DIR = CONFIG_DIR / "sweeps"
SAMPLERS = ("uniform", "loguniform", "randint", "choice")
SEARCHES = ("grid", "random", "optuna")


@dataclass(frozen=True)
class ParamSpace:
    """One swept config key: its grid values and, optionally, a sampler for random search."""

    key: str
    grid: tuple[Any, ...]
    sampler: str | None = None
    bounds: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"grid": list(self.grid)}
        if self.sampler:
            spec[self.sampler] = list(self.bounds)
        return spec


def _parse_spec(key: str, spec: Any, where: str) -> ParamSpace:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: '{key}' must map to {{grid: [...], <sampler>: [...]}}")
    unknown = sorted(set(spec) - {"grid", *SAMPLERS})
    if unknown:
        raise ConfigError(
            f"{where}: '{key}' has unknown entry '{unknown[0]}' (use grid, {', '.join(SAMPLERS)})"
        )
    grid = spec.get("grid")
    if not isinstance(grid, list) or not grid:
        raise ConfigError(f"{where}: '{key}' needs a non-empty list 'grid'")
    samplers = [name for name in SAMPLERS if name in spec]
    if len(samplers) > 1:
        raise ConfigError(f"{where}: '{key}' has several samplers {samplers}; keep one")
    if not samplers:
        return ParamSpace(key, tuple(grid))
    name = samplers[0]
    bounds = spec[name]
    if name == "choice":
        if not isinstance(bounds, list) or not bounds:
            raise ConfigError(f"{where}: '{key}': choice needs a non-empty list")
    elif (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
        or not bounds[0] < bounds[1]
        or (name == "randint" and not all(isinstance(b, int) for b in bounds))
        or (name == "loguniform" and bounds[0] <= 0)
    ):
        raise ConfigError(f"{where}: '{key}': {name} needs [lo, hi] numbers with lo < hi")
    return ParamSpace(key, tuple(grid), name, tuple(bounds))


def _check_key(key: str, base: Config, where: str) -> None:
    flat = base.flat()
    if key not in flat:
        raise ConfigError(f"{where}: unknown config key '{key}'")
    if isinstance(flat[key], (dict, list)):
        raise ConfigError(f"{where}: '{key}' is not a scalar config value; it cannot be swept")


def space_file(name: str) -> Path:
    """The YAML of a named space (``gamma`` -> ``configs/sweeps/gamma.yaml``) or a path."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return path
    return SWEEPS_DIR / f"{name}.yaml"


def available_spaces() -> list[str]:
    """Names of the spaces shipped in ``configs/sweeps``."""
    return sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))


def load_space_file(path: str | Path, base: Config) -> list[ParamSpace]:
    """The params of one space file, in file order; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        shipped = ", ".join(available_spaces())
        raise ConfigError(f"{path}: sweep space not found (shipped: {shipped})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: a sweep space maps config keys to specs")
    params = []
    for key, spec in data.items():
        _check_key(str(key), base, str(path))
        params.append(_parse_spec(str(key), spec, str(path)))
    return params


def parse_values(text: str) -> tuple[Any, ...]:
    """``"0.8,0.9,0.95"`` -> ``(0.8, 0.9, 0.95)``; each item is read as YAML (``3``, ``true``)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"--values {text!r}: no values")
    values = []
    for item in items:
        try:
            values.append(yaml.safe_load(item))
        except yaml.YAMLError:
            values.append(item)
    return tuple(values)


def resolve_space(
    names: Sequence[str], base: Config, values: str | None = None
) -> list[ParamSpace]:
    """The joint space of ``--param`` names (space files or dotted config keys).

    ``values`` (``--values``) replaces the grid of a single swept key; a dotted key without
    a space file needs it. Every grid value and sampler bound must be a valid value of its
    key (with the rest of ``base``): a :class:`ConfigError` as ``--set`` gives otherwise.
    """
    if not names:
        raise ConfigError(f"give at least one --param (spaces: {', '.join(available_spaces())})")
    params: list[ParamSpace] = []
    for name in names:
        path = space_file(name)
        if path.is_file() or "." not in name:
            params.extend(load_space_file(path, base))
        elif values is None:
            raise ConfigError(f"--param {name}: no space file {path}; give --values for it")
        else:
            _check_key(name, base, f"--param {name}")
            params.append(ParamSpace(name, ()))
    keys = [p.key for p in params]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        raise ConfigError(f"config key '{duplicate}' is swept twice (check the --param spaces)")
    if values is not None:
        if len(params) != 1:
            raise ConfigError(
                f"--values needs exactly one swept key; the space has {len(params)}: {keys}"
            )
        params = [ParamSpace(params[0].key, parse_values(values))]
    for param in params:  # every value checked now, as --set checks it: not in a trial
        for value in (*param.grid, *param.bounds):
            base.replace({param.key: value})
    return params


def check_ranges(params: Iterable[ParamSpace], search: str) -> None:
    """``--search optuna`` needs a range (a sampler) for every key: a :class:`ConfigError`
    naming the first key without one."""
    if search != "optuna":
        return
    for p in params:
        if not p.sampler:
            raise ConfigError(
                f"--search optuna: '{p.key}' has a grid but no range; give it one of "
                f"{', '.join(SAMPLERS)} in its space file (configs/sweeps/*.yaml shows how)"
            )


def grid_size(params: Iterable[ParamSpace]) -> int:
    """Trials of one pass over the joint grid (the product of the grids' lengths)."""
    size = 1
    for param in params:
        size *= len(param.grid)
    return size


def tune_space(params: Iterable[ParamSpace], search: str) -> dict[str, Any]:
    """The Tune ``param_space``: grid searches (cartesian product) or samplers (random
    search draws from them; Optuna's TPE takes them as its ranges)."""
    from ray import tune

    if search not in SEARCHES:
        raise ConfigError(f"unknown search '{search}' (use {', '.join(SEARCHES)})")
    space: dict[str, Any] = {}
    for p in params:
        if search == "grid":
            space[p.key] = tune.grid_search(list(p.grid))
        elif p.sampler == "uniform":
            space[p.key] = tune.uniform(*p.bounds)
        elif p.sampler == "loguniform":
            space[p.key] = tune.loguniform(*p.bounds)
        elif p.sampler == "randint":
            space[p.key] = tune.randint(p.bounds[0], p.bounds[1] + 1)  # upper bound included
        else:
            space[p.key] = tune.choice(list(p.bounds if p.sampler == "choice" else p.grid))
    return space
