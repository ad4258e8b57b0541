"""The batch processor: trajectory frames through Dask tasks into a chunked Zarr results store.

:mod:`~lessdask.pipeline.driver` runs on the client (open inputs, plan, rounds of tasks,
finish); :mod:`~lessdask.pipeline.worker` runs on the workers (one task, per-worker caches).
"""

from lessdask.pipeline.driver import classify

__all__ = ["classify"]
