"""First run: the kernels are compiled once, with a message, and found in numba's cache afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SCRIPT = """
import logging, sys
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
from lessdask.warmup import compile_kernels, kernels_cached
print("before", kernels_cached())
print("seconds", compile_kernels())
print("after", kernels_cached())
print("again", compile_kernels())
"""


def _run(cache_dir, script):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)


def test_an_empty_numba_cache_is_seen_as_a_first_run(tmp_path):
    out = _run(tmp_path, "from lessdask.warmup import kernels_cached; print(kernels_cached())")
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_first_run_says_it_compiles_then_later_runs_load_the_cache(tmp_path):
    out = _run(tmp_path, _SCRIPT)
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["before"] == "False"
    assert float(lines["seconds"]) > 0
    assert lines["after"] == "True"
    assert lines["again"] == "0.0"
    assert out.stderr.count("compiling kernels, first run only") == 1
    again = _run(tmp_path, _SCRIPT)  # a new process, as a Dask worker started later
    assert "before True" in again.stdout
    assert "compiling kernels" not in again.stderr
