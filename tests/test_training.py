"""`lessdask train`: a model from the shipped reference data, with its held-out evidence."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from lessdask.model import load_model


def test_train_command_writes_a_model_and_reports_accuracy_and_other_rate(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("base_models: []\nmega_model:\n  name: lightgbm\n  params:\n    n_estimators: 5\n")
    model_path, report = tmp_path / "tiny.lessmodel", tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "train", "--preset", str(spec), "-o", str(model_path),
                        "--report", str(report), "--envelope-quantile", "0.99"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "val_temperature: accuracy" in r.stdout and "called 'other'" in r.stdout
    rep = json.loads((report / "report.json").read_text())
    for split in ("val_config", "val_temperature"):
        res = rep["splits"][split]
        assert res["accuracy"] > 0.95
        # a 99 % envelope: about 1 % of held-out atoms (more at the unseen temperature), never most
        assert 0.0 < res["other_rate"] < 0.05
        assert res["accuracy_with_other"] <= res["accuracy"]
    assert (report / "confusion.png").stat().st_size > 0
    model = load_model(model_path)
    assert model.has_envelopes and model.envelope_quantile == 0.99
    assert model.envelope_centres_.shape[:2] == (len(model.classes_), 64)
    assert np.all(model.envelope_radius_ > 0)


def test_train_refuses_an_envelope_quantile_outside_0_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "train", "-o", str(tmp_path / "m.lessmodel"),
                        "--envelope-quantile", "1.5"], capture_output=True, text=True)
    assert r.returncode == 2 and "envelope_quantile" in r.stderr and "1.5" in r.stderr
    assert "Traceback" not in r.stderr and "training preset" not in r.stderr  # refused before any fit
    assert not (tmp_path / "m.lessmodel").exists()
