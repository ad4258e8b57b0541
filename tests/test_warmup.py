"""First run: the kernels are compiled once, with a message, and found in numba's cache afterwards."""

from __future__ import annotations

import json
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


_REAL_RUN = """
import json, sys, tempfile
from distributed import Client, LocalCluster
from lessdask.demo import demo_trajectory
from lessdask.pipeline import classify
from lessdask.warmup import _dispatchers, compile_kernels, kernels_cached

def signatures():
    return {f"{d.py_func.__module__}.{d.__name__}": sorted(map(str, d.signatures)) for d in _dispatchers()}

if __name__ == "__main__":
    compile_kernels(force=True)
    warmed = signatures()
    # a real run whose worker is a thread of this process, so its compilations are seen here
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \\
            Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        classify(demo_trajectory(), output=tmp + "/r.zarr", stop=2, atoms_per_chunk=1500, client=client,
                 progress=False)
    json.dump({"warmed": warmed, "after_run": signatures(), "cached": kernels_cached()}, sys.stdout)
"""


def test_warm_up_compiles_every_kernel_a_real_run_calls_with_the_same_types(tmp_path):
    script = tmp_path / "real_run.py"
    script.write_text(_REAL_RUN)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["cached"]
    # kernels called only from other kernels have no signatures of their own when their callers load from
    # numba's cache, so "every kernel ran" is checked on what the real run used
    assert not [k for k, v in got["after_run"].items() if v and not got["warmed"].get(k)]
    for name in ("slot_features", "slot_halo", "neighbour_mean", "mark_neighbours", "steinhardt_features",
                 "_forest", "_other"):
        assert any(k.endswith("." + name) for k in got["warmed"]), name
    assert got["after_run"] == got["warmed"]  # the run compiled no new specialisation


@pytest.mark.slow
def test_a_first_classify_on_the_embedded_cluster_compiles_once_with_a_message(tmp_path, dump_file):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "first.zarr"
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o", str(out),
                        "--workers", "2"], env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("compiling kernels, first run only") == 1  # in the client, not in each worker
    assert out.exists()
    again = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o",
                            str(tmp_path / "again.zarr"), "--workers", "2"], env=env, capture_output=True,
                           text=True, timeout=1800)
    assert again.returncode == 0, again.stderr
    assert "compiling kernels" not in again.stderr
