"""Sweep spaces: the shipped YAML files, ``--param``/``--values`` resolution, Tune spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdt_core.config import ConfigError, load_config
from workflows.sweep.sweep_space import (
    ParamSpace,
    available_spaces,
    grid_size,
    parse_values,
    resolve_space,
    tune_space,
)

BASE = load_config()


def test_shipped_spaces_cover_the_issue_and_every_grid_value_is_a_valid_config():
    assert {"gamma", "scales", "thresholds"} <= set(available_spaces())
    keys = {n: [p.key for p in resolve_space([n], BASE)] for n in ("gamma", "scales", "thresholds")}
    assert keys["gamma"] == ["gaussian.gamma"]
    assert keys["scales"] == ["candidates.num_scales", "candidates.scale_step"]
    assert keys["thresholds"] == [
        "online.score_threshold",
        "online.similarity_threshold",
        "sampling.positive_iou",
        "sampling.negative_center_distance",
    ]
    for name in ("gamma", "scales", "thresholds"):
        for param in resolve_space([name], BASE):
            for value in (*param.grid, *(param.bounds if param.sampler == "choice" else ())):
                BASE.replace({param.key: value})  # raises ConfigError when out of range


def test_joint_space_is_the_product_and_values_replace_a_single_grid():
    assert grid_size(resolve_space(["gamma", "scales"], BASE)) == 4 * 9
    (gamma,) = resolve_space(["gamma"], BASE, values="0.8, 0.95")
    assert gamma == ParamSpace("gaussian.gamma", (0.8, 0.95))
    (steps,) = resolve_space(["candidates.num_scales"], BASE, values="1,3")
    assert steps.grid == (1, 3) and all(isinstance(v, int) for v in steps.grid)
    assert parse_values("true,0.5,pooled") == (True, 0.5, "pooled")


def test_a_sweeps_size_counts_trials_tune_has_not_created_yet():
    """An interrupt can come before Tune made every trial: the sweep's own size says how many
    are unfinished (the count of Tune's results alone read 0 unfinished, exit 0)."""
    from dataclasses import asdict

    from workflows.sweep.tune_sweep import SweepContext

    space = [asdict(p) for p in resolve_space(["gamma", "scales"], BASE)]
    args = dict(name="s", experiment_dir="/x", tracking_uri="sqlite:///x", experiment_id="1")
    args |= dict(parent_run_id="", metric="auc", space=space, config={}, targets=[])
    args |= dict(otb_root="/", tracker="gdt")
    assert SweepContext(search="grid", num_samples=2, **args).trials == 2 * 4 * 9
    assert SweepContext(search="random", num_samples=7, **args).trials == 7


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        (["scales"], "1,3", "exactly one swept key"),
        (["gaussian.gamma"], None, "give --values"),
        (["gaussian.nope"], "1", "unknown config key 'gaussian.nope'"),
        (["gamma", "gaussian.gamma"], "0.9", "swept twice"),
        (["no_such_space"], None, "no_such_space.yaml: sweep space not found"),
        (["network.mean"], "0.1", "not a scalar"),
    ],
)
def test_bad_spaces_are_rejected_naming_the_culprit(names, values, message):
    with pytest.raises(ConfigError, match=message):
        resolve_space(names, BASE, values)


def test_bad_space_file_names_the_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gaussian.gamma:\n  grid: [0.9]\n  uniform: [0.99, 0.9]\n")
    with pytest.raises(ConfigError, match=f"{bad}: 'gaussian.gamma': uniform needs"):
        resolve_space([str(bad)], BASE)
    bad.write_text("gaussian.gamma:\n  values: [0.9]\n")
    with pytest.raises(ConfigError, match=f"{bad}: 'gaussian.gamma' has unknown entry 'values'"):
        resolve_space([str(bad)], BASE)


def test_tune_spaces_grid_and_samplers_stay_in_bounds():
    from ray.tune.search.sample import Domain

    params = resolve_space(["scales", "gamma"], BASE)
    grid = tune_space(params, "grid")
    assert grid["gaussian.gamma"] == {"grid_search": [0.8, 0.9, 0.95, 0.99]}
    assert grid["candidates.num_scales"] == {"grid_search": [1, 3, 5]}
    random = tune_space(params, "random")
    assert all(isinstance(d, Domain) for d in random.values())
    scales = random["candidates.num_scales"].sample(size=50)
    steps = random["candidates.scale_step"].sample(size=50)
    gammas = random["gaussian.gamma"].sample(size=50)
    assert set(scales) <= {1, 3, 5, 7}
    assert all(0.01 <= s <= 0.1 for s in steps) and all(0.8 <= g <= 0.995 for g in gammas)
    randint = tune_space([ParamSpace("candidates.num_scales", (1,), "randint", (1, 2))], "random")
    assert set(randint["candidates.num_scales"].sample(size=200)) == {1, 2}  # upper included
