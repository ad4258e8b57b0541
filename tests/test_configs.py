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
    assert FeatureSettings.from_dict(yaml.safe_load((CONFIGS / "features-default.yaml").read_text())) == FeatureSettings()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_model_preset_files_match_the_builtin_presets(preset):
    spec = yaml.safe_load((CONFIGS / f"model-{preset}.yaml").read_text())
    assert spec == PRESETS[preset]
    assert resolve_spec(str(CONFIGS / f"model-{preset}.yaml")) == resolve_spec(preset)


@pytest.mark.parametrize("kind, cls", [("slurm", "SLURMCluster"), ("pbs", "PBSCluster")])
def test_cluster_profiles_only_use_dask_jobqueue_arguments(kind, cls):
    import dask_jobqueue

    options = yaml.safe_load((CONFIGS / f"cluster-{kind}.yaml").read_text())
    cluster_cls = getattr(dask_jobqueue, cls)
    known = set()
    for klass in cluster_cls.__mro__ + (cluster_cls.job_cls,) + cluster_cls.job_cls.__mro__:
        if "__init__" in vars(klass):
            known |= set(inspect.signature(klass.__init__).parameters)
    assert set(options) <= known, set(options) - known
