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
        metavar="FILE|NAME",
        help="YAML file layered over configs/default.yaml (repeatable), or a shipped one by "
        "name, e.g. configs/demo.yaml or phase1-conv5-cpu.",
    )(func)
    return func


_TRACKING_URI = "gdt.tracking_uri"  # where --tracking-uri is kept in click's context


def _remember_tracking_uri(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[_TRACKING_URI] = value


def tracking_uri_option(func: Callable) -> Callable:
    """Add ``--tracking-uri URI`` (= ``--set mlflow.tracking_uri=URI``), the same on every
    command that logs to or reads from MLflow; :func:`build_config` applies it."""
    return click.option(
        "--tracking-uri",
        expose_value=False,
        callback=_remember_tracking_uri,
        help="MLflow tracking URI (default: mlflow.tracking_uri, $MLFLOW_TRACKING_URI, else "
        "sqlite:///$PWD/mlflow.db).",
    )(func)


def build_config(
    overlays: Iterable[str] = (), overrides: Iterable[str] = (), **extra: object
) -> Config:
    """The config of one command: defaults, overlays, ``--set`` values, then CLI flags.

    ``extra`` maps dotted keys to values of dedicated CLI flags (``None`` = flag not given);
    ``--tracking-uri`` (:func:`tracking_uri_option`) is one of them. A bad key or value becomes
    a click usage error naming the key.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _TRACKING_URI in ctx.meta:
        extra = {"mlflow.tracking_uri": ctx.meta[_TRACKING_URI], **extra}
    try:
        cfg = load_config(overlays, list(overrides))
        flags = {key: value for key, value in extra.items() if value is not None}
        return cfg.replace(flags) if flags else cfg
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


dataset_option = click.option(
    "--dataset",
    type=click.Choice(["otb", "lasot", "got10k"]),
    default="otb",
    show_default=True,
    help="Whose layout and scores: OTB's OPE, LaSOT's or GOT-10k's toolkit.",
)
root_option = click.option(
    "--root",
    "--otb-root",
    "root",
    type=click.Path(exists=True, file_okay=False),
    help="The data set's folder: an OTB download (--otb-root is the same), LaSOT's or "
    "GOT-10k's root.",
)
split_option = click.option(
    "--split",
    default="val",
    show_default=True,
    help="GOT-10k: the split under --root (its test split is scored by its server).",
)


def data_options(
    *,
    datasets: bool = False,
    sequences: str | None = None,
    required: bool = False,
    anno: bool = True,
) -> Callable[[Callable], Callable]:
    """The options that say which targets, the same on every command that reads them:
    ``--root`` (alias ``--otb-root``), ``--anno`` (unless not ``anno``: the command needs
    the images), ``--sequences`` (default ``sequences``, or ``required``),
    ``--sequence-table``; with ``datasets``, ``--dataset`` and ``--split`` too (LaSOT,
    GOT-10k)."""
    named = "OTB: cvpr13 | tb50 | tb100 | NAME,NAME,..."
    if datasets:
        named += "; LaSOT, GOT-10k: all | NAME,..."
    options = [
        *([dataset_option] if datasets else []),
        root_option,
        *([split_option] if datasets else []),
        *(
            [
                click.option(
                    "--anno",
                    "anno_dir",
                    type=click.Path(exists=True, file_okay=False),
                    help="Flat ground-truth folder <anno>/<Seq>.txt (default: the OTB "
                    "download's own).",
                )
            ]
            if anno
            else []
        ),
        click.option(  # click 8.5 enforces `required` only where no default is given
            "--sequences",
            **({"default": sequences, "show_default": True} if sequences else {}),
            required=required,
            help=named,
        ),
        click.option(
            "--sequence-table",
            type=click.Path(exists=True, dir_okay=False),
            help="A CSV like datasets/otb/sequences.csv for sequences outside OTB-100.",
        ),
    ]

    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


weights_option = click.option(
    "--weights",
    help="Network weights: a checkpoint file, runs:/... or models:/... "
    "(default: the ImageNet weights of `gdt-flow weights fetch`, else a random network).",
)
