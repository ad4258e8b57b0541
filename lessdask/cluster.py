"""Where lessdask runs: one function that gives a Dask client from settings."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from lessdask.errors import ClusterError

logger = logging.getLogger(__name__)

#: Seconds to wait for a scheduler that does not answer before giving up with a clear error.
CONNECT_TIMEOUT = 20


def _jobqueue_cluster(kind: str, config: str | None, jobs: int | None):
    try:
        import dask_jobqueue
    except ImportError:  # pragma: no cover - a declared dependency
        raise ClusterError("dask-jobqueue is not installed; pip install dask-jobqueue") from None
    classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
               "htcondor": "HTCondorCluster", "oar": "OARCluster", "moab": "MoabCluster"}
    if kind.lower() not in classes:
        raise ClusterError(f"unknown cluster kind {kind!r}: use one of {sorted(classes)}")
    options = {}
    if config:
        import yaml

        from lessdask.configs import config_path
        from lessdask.errors import InputError

        try:
            p = config_path(config, kind="cluster")
        except InputError as exc:
            raise ClusterError(f"cluster profile {exc}; 'lessdask config show slurm' prints one to copy") from None
        options = yaml.safe_load(p.read_text()) or {}
    cluster = getattr(dask_jobqueue, classes[kind.lower()])(**options)
    cluster.scale(jobs=jobs or 1)
    return cluster


@contextlib.contextmanager
def get_client(scheduler: str | None = None, scheduler_file: str | None = None, cluster: str | None = None,
               cluster_config: str | None = None, jobs: int | None = None, n_workers: int | None = None,
               client=None, quiet: bool = False):
    """A Dask client for lessdask work, closed (with any cluster it started) on exit.

    Exactly one source is used, in this order: an existing ``client``; a running scheduler
    (``scheduler`` address or ``scheduler_file``); a dask-jobqueue cluster of kind ``cluster``
    (``slurm``, ``pbs``, ...) configured by the YAML ``cluster_config`` and scaled to ``jobs``;
    otherwise an embedded ``LocalCluster`` of worker processes with one thread each, one per
    core (or ``n_workers``), listening on loopback only, its dashboard on loopback too.

    Yields
    ------
    distributed.Client

    Raises
    ------
    ClusterError
        A scheduler that does not answer within :data:`CONNECT_TIMEOUT` seconds, a missing
        scheduler file, an unknown cluster kind.
    """
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    started = None
    try:
        if scheduler or scheduler_file:
            if scheduler_file and not Path(scheduler_file).exists():
                raise ClusterError(f"scheduler file {scheduler_file} does not exist; start the scheduler with "
                                   "'dask scheduler --scheduler-file PATH' first")
            try:
                c = Client(scheduler, scheduler_file=scheduler_file, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                where = scheduler or f"the scheduler in {scheduler_file}"
                raise ClusterError(f"no Dask scheduler answers at {where} within {CONNECT_TIMEOUT} s ({exc}); "
                                   "check the address and that the scheduler is running") from None
        elif cluster:
            started = _jobqueue_cluster(cluster, cluster_config, jobs)
            c = Client(started)
        else:
            n = n_workers or os.cpu_count() or 1
            started = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", silence_logs=40)
            c = Client(started)
        if not quiet:
            link = getattr(c, "dashboard_link", None)
            logger.info("Dask scheduler %s%s", c.scheduler.address, f", dashboard {link}" if link else "")
        try:
            yield c
        finally:
            c.close()
    finally:
        if started is not None:
            started.close()
