"""Starting or joining Ray: local by default, a cluster with ``--address``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
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
    Workers' output stays in Ray's session logs (``/tmp/ray/session_latest/logs``) unless
    ``gdt-flow --verbose``: our commands print their own progress, and errors reach the
    driver as exceptions.
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
