"""Starting or joining Ray: local by default, a cluster with ``--address``."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

VERBOSE_ENV = "GDT_FLOW_VERBOSE"  # set by `gdt-flow --verbose`; inherited by sub-commands
# Driver-side Ray messages that read as failures to a user though nothing failed (shown
# with --verbose): the local token-auth notice.
QUIET_LOGGERS = ("ray._private.authentication",)


def verbose() -> bool:
    """Whether Ray's own output (workers' logs, Tune's tables) should reach the terminal."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (a running cluster) or start a local instance.

    Reuses an already initialised Ray (tests start one in a fixture). The dashboard is off
    locally; a cluster's dashboard is bound where ``ray_cluster.yaml`` says (127.0.0.1).
    Workers' output stays in Ray's session logs unless ``gdt-flow --verbose``: our commands
    print their own progress, errors reach the driver as exceptions, and each command copies
    those logs into its run folder (:func:`keep_ray_logs`).
    """
    import ray

    if ray.is_initialized():
        return
    loud = verbose()
    if not loud:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    if address:
        ray.init(address=address, log_to_driver=loud)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=loud)


RAY_LOGS_DIR = "ray-logs"


def keep_ray_logs(folder: str | Path) -> Path | None:
    """Copy this Ray session's logs (workers' stdout/stderr, Ray's own components) into
    ``<folder>/ray-logs``, beside the results they belong to (a later copy adds to it).
    Returns that folder, or None when Ray is not running or its logs are not on this machine
    (a driver connected to a remote cluster: they stay on the head node)."""
    import ray

    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    logs = Path(context.get_temp_dir()) / context.get_session_name() / "logs"
    if not logs.is_dir():
        return None
    dest = Path(folder) / RAY_LOGS_DIR
    try:
        shutil.copytree(logs, dest, dirs_exist_ok=True, ignore_dangling_symlinks=True)
    except (OSError, shutil.Error) as exc:  # a log rotated away mid-copy: keep the rest
        logging.getLogger(__name__).warning("some of Ray's logs were not copied: %s", exc)
    return dest


def as_completed(
    submit: Callable[[Any], Any], items: Iterable[Any], max_parallel: int | None = None
) -> Iterator[Any]:
    """The results of ``submit(item)`` (a Ray task's ref) for every item, in the order they
    finish, with at most ``max_parallel`` in flight (None: all at once, Ray schedules them
    by their resources)."""
    import ray

    queue, pending = list(items), []
    while queue or pending:
        while queue and (max_parallel is None or len(pending) < max_parallel):
            pending.append(submit(queue.pop(0)))
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])
