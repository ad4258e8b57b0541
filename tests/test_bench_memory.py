"""The benchmarks' peak worker memory is the worker's own (correctness only)."""

from __future__ import annotations

import multiprocessing

import numpy as np

from lessdask.bench.frames import peak_rss_mb


def _report(queue):
    queue.put(peak_rss_mb())


def test_a_spawned_process_reports_its_own_peak_memory_not_its_parents():
    # ru_maxrss of a process spawned as Dask spawns its workers holds the parent's RSS at that moment
    held = np.ones(600 * 2**20 // 8)  # 600 MiB touched in this (the parent) process
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_report, args=(queue,))
    child.start()
    child_peak = queue.get(timeout=120)
    child.join()
    assert held.sum() > 0 and peak_rss_mb() > 600
    assert child_peak < 300, child_peak
