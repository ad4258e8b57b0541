"""The README's Python examples run exactly as written (each in a fresh process, like a user's script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_has_python_examples_and_each_guards_a_cluster():
    assert len(BLOCKS) >= 2, "the README lost its Python examples"
    for code in BLOCKS:
        if "lessdask.classify(" in code or "LocalCluster" in code:
            assert 'if __name__ == "__main__":' in code, "a script that starts a cluster needs the main guard"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs_as_written(tmp_path, index):
    script = tmp_path / f"example{index}.py"
    script.write_text(BLOCKS[index])
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert "fcc" in r.stdout  # every example prints class names or fractions by class
    for store in re.findall(r'output="([^"]+\\.zarr)"', BLOCKS[index]):
        assert (tmp_path / store).is_dir(), store
