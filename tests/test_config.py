"""The typed config: defaults are the paper's, bad keys and values are named errors."""

from __future__ import annotations

import re

import pytest

from gdt_core.config import ConfigError, load_config, parse_override


def test_paper_values_are_the_defaults():
    cfg = load_config()
    assert cfg.gaussian.gamma == 0.95
    assert cfg.candidates.num_scales == 3
    assert cfg.candidates.scale_step == 0.027
    assert cfg.network.fc7_dim == 500
    assert cfg.phase2.max_iterations == 500
    assert cfg.online.iterations_per_frame == 1
    assert cfg.phase1.num_patches == 100_000
    assert cfg.phase1.iterations == 100_000
    assert cfg.online.score_threshold == 0.0


def test_overrides_are_parsed_as_yaml_and_validated():
    cfg = load_config(overrides=["gaussian.gamma=0.9", "online.backprop=false"])
    assert cfg.gaussian.gamma == 0.9
    assert cfg.online.backprop is False
    assert parse_override("ray.address=null") == ("ray.address", None)
    # YAML 1.1 reads 1e-5 (no dot) as text; a float field takes it as the number it reads as
    cfg = load_config(overrides=["online.learning_rate=1e-5", "phase2.stop_margin=2E3"])
    assert cfg.online.learning_rate == 1e-5 and cfg.phase2.stop_margin == 2000.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("gaussian.gama=0.9", "gaussian.gama"),
        ("nosection.key=1", "nosection"),
        ("gaussian.gamma=1.5", "gaussian.gamma"),
        ("gaussian.variance_floor=0", "gaussian.variance_floor"),
        ("candidates.num_scales=two", "candidates.num_scales"),
        ("tracker.candidate_features=fast", "tracker.candidate_features"),
        ("online.backprop=1", "online.backprop"),
        ("gaussian.gamma=high", "gaussian.gamma"),
    ],
)
def test_bad_override_names_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_overlay_file_unknown_key_names_file_and_key(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("sampling:\n  num_positivs: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*sampling\.num_positivs"):
        load_config([overlay])


def test_invalid_yaml_names_file_and_line(tmp_path):
    overlay = tmp_path / "broken.yaml"
    overlay.write_text("seed: 1\nnetwork: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+"):
        load_config([overlay])


def test_flat_and_replace_round_trip():
    cfg = load_config()
    flat = cfg.flat()
    assert flat["gaussian.gamma"] == 0.95
    assert cfg.replace({"candidates.num_scales": 5}).candidates.num_scales == 5
    assert cfg.candidates.num_scales == 3  # frozen: replace made a copy


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        ("tracker.gamma=0.9", "did you mean 'gaussian.gamma'"),  # right leaf, wrong section
        ("gaussian.gama=0.9", "did you mean 'gaussian.gamma'"),  # misspelt
        ("candidate.num_scales=1", "did you mean 'candidates.num_scales'"),
    ],
)
def test_unknown_key_suggests_the_nearest(override, suggestion):
    with pytest.raises(ConfigError, match=re.escape(suggestion)):
        load_config(overrides=[override])
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=["zzz.qqq=1"])
    assert "did you mean" not in str(exc.value)


def test_related_values_are_checked_together():
    cfg = load_config()
    with pytest.raises(
        ConfigError, match=r"negative_center_distance \(1.5\) > .*max_distance \(1\)"
    ):
        cfg.replace({"sampling.negative_center_distance": 1.5})
    ok = cfg.replace(
        {"sampling.negative_center_distance": 1.5, "sampling.negative_max_distance": 2.0}
    )
    assert ok.sampling.negative_center_distance == 1.5
