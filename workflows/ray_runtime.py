"""Starting or joining Ray: local by default, a cluster with ``--address``."""

from __future__ import annotations


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (a running cluster) or start a local instance.

    Reuses an already initialised Ray (tests start one in a fixture). The dashboard is off
    locally; a cluster's dashboard is bound where ``ray_cluster.yaml`` says (127.0.0.1).
    """
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
