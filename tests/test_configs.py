"""The YAML files in configs/ say what the code does."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from lessdask.features import FeatureSettings
from lessdask.model import PRESETS, resolve_spec

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_feature_settings_file_matches_the_defaults():
    settings = yaml.safe_load((CONFIGS / "features-default.yaml").read_text())
    assert FeatureSettings.from_dict(settings) == FeatureSettings()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_model_preset_files_match_the_builtin_presets(preset):
    spec = yaml.safe_load((CONFIGS / f"model-{preset}.yaml").read_text())
    assert spec == PRESETS[preset]
    assert resolve_spec(str(CONFIGS / f"model-{preset}.yaml")) == resolve_spec(preset)


@pytest.mark.parametrize(("kind", "cls"), [("slurm", "SLURMCluster"), ("pbs", "PBSCluster")])
def test_cluster_profiles_only_use_dask_jobqueue_arguments(kind, cls):
    import dask_jobqueue

    options = yaml.safe_load((CONFIGS / f"cluster-{kind}.yaml").read_text())
    cluster_cls = getattr(dask_jobqueue, cls)
    known = set()
    for klass in cluster_cls.__mro__ + (cluster_cls.job_cls,) + cluster_cls.job_cls.__mro__:
        if "__init__" in vars(klass):
            known |= set(inspect.signature(klass.__init__).parameters)
    assert set(options) <= known, set(options) - known


def test_paper_feature_settings_file_gives_the_papers_twelve_features():
    s = FeatureSettings.from_dict(yaml.safe_load((CONFIGS / "features-paper.yaml").read_text()))
    assert not s.average and s.n_features == 12 and s.l_values == (3, 4, 6, 8, 10, 12)


def test_reference_build_refuses_a_broken_feature_settings_file_before_any_md(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "features.yaml"
    bad.write_text("n_nearest: 4\npading: 1.3\n")  # misspelt key
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "reference", "build", "-o", str(tmp_path / "r.nc"),
                        "--features", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0
    assert str(bad) in r.stderr and "pading" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.nc").exists()


def test_configs_folder_holds_exact_copies_of_the_shipped_settings_files():
    from lessdask.configs import config_names, config_path

    shipped = set(config_names())
    assert shipped == {p.stem for p in CONFIGS.glob("*.yaml")}
    for name in shipped:
        assert (CONFIGS / f"{name}.yaml").read_bytes() == config_path(name).read_bytes(), name


def test_config_command_prints_a_shipped_profile_and_names_unknown_ones(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "config", "show", "cluster-slurm"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == (CONFIGS / "cluster-slurm.yaml").read_text()
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "config", "show", "cluster-nope"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "cluster-slurm" in r.stderr and "Traceback" not in r.stderr


def test_short_names_find_the_shipped_files_outside_the_source_tree(tmp_path, monkeypatch):
    from lessdask.configs import config_path

    monkeypatch.chdir(tmp_path)
    assert config_path("paper", kind="features").name == "features-paper.yaml"
    assert resolve_spec("paper") == resolve_spec(str(config_path("model-paper")))
