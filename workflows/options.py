"""Options shared by the ``gdt-flow`` sub-commands: one config object built from the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

from gdt_core.config import Config, ConfigError, load_config


def config_options(func: Callable) -> Callable:
    """Add ``--config FILE`` (overlay YAML, repeatable) and ``--set KEY=VALUE`` (repeatable)."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config value, e.g. --set gaussian.gamma=0.9 (repeatable).",
    )(func)
    func = click.option(
        "--config",
        "overlays",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="YAML file layered over configs/default.yaml (repeatable), e.g. configs/demo.yaml.",
    )(func)
    return func


def build_config(
    overlays: Iterable[str] = (), overrides: Iterable[str] = (), **extra: object
) -> Config:
    """The config of one command: defaults, overlays, ``--set`` values, then CLI flags.

    ``extra`` maps dotted keys to values of dedicated CLI flags (``None`` = flag not given).
    A bad key or value becomes a click usage error naming the key.
    """
    try:
        cfg = load_config(overlays, list(overrides))
        flags = {key: value for key, value in extra.items() if value is not None}
        return cfg.replace(flags) if flags else cfg
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
