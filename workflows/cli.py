"""The ``gdt-flow`` command line (click). Each sub-command lives in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--verbose",
    is_flag=True,
    help="Show Ray's own output too (workers' logs, Tune's status tables).",
)
def main(verbose: bool) -> None:
    """gdt-flow: pretrain, evaluate, ablate and sweep the GDT tracker on Ray + MLflow."""
    import os

    from workflows.ray_runtime import VERBOSE_ENV

    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # the demo's sub-commands inherit it


from workflows.evaluate.report_cmd import report  # noqa: E402

main.add_command(report)

from workflows.pretrain.pretrain_cmd import build_patches_command, pretrain_command  # noqa: E402

main.add_command(build_patches_command)
main.add_command(pretrain_command)

from workflows.evaluate.evaluate_cmd import evaluate, log_run  # noqa: E402

main.add_command(evaluate)
main.add_command(log_run)

from workflows.sweep.sweep_cmd import sweep  # noqa: E402

main.add_command(sweep)

from workflows.runs.compare_cmd import compare, ui  # noqa: E402

main.add_command(compare)
main.add_command(ui)

from workflows.evaluate.ablation_cmd import ablation  # noqa: E402

main.add_command(ablation)

from workflows.demo_cmd import demo  # noqa: E402

main.add_command(demo)

from workflows.evaluate.track_cmd import track  # noqa: E402

main.add_command(track)

from workflows.pretrain.weights_cmd import weights  # noqa: E402

main.add_command(weights)

from workflows.vot.vot_cmd import trax_command, vot_workspace  # noqa: E402

main.add_command(trax_command)
main.add_command(vot_workspace)


if __name__ == "__main__":
    main()
