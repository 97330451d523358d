"""The ``gdt-flow`` command line (click). Each sub-command lives in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """gdt-flow: pretrain, evaluate, ablate and sweep the GDT tracker on Ray + MLflow."""
