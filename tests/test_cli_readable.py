"""A readable command line: human summaries, class names and aliases, help with defaults, no leaked warnings."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from lessdask.classes import CLASS_NAMES, resolve_class
from lessdask.cli.main import build_parser
from lessdask.errors import InputError

STRUCTURES = ["AM", "CaF2", "CsCl", "DC", "NaCl", "bcc", "fcc", "hcp"]


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "lessdask.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def _options(parser, name="lessdask"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _options(child, f"{name} {sub}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield name, parser, action


def test_every_option_has_help_and_shows_its_default():
    missing, hidden = [], []
    for name, parser, action in _options(build_parser()):
        if not action.help:
            missing.append(f"{name} {action.dest}")
            continue
        if not action.option_strings or isinstance(action.default, bool) or action.required:
            continue
        text = parser.formatter_class(prog=name)._get_help_string(action) % {}
        if "default" not in text.lower():
            hidden.append(f"{name} {action.option_strings[-1]}")
    assert not missing, f"options without help: {missing}"
    assert not hidden, f"options whose help does not show the default: {hidden}"


def test_help_of_analysis_commands_explains_method_axis_bins_between():
    for cmd, words in (("fractions", ["--method", "mean class probability", "(default: label)"]),
                       ("profile", ["--axis", "direction", "(default: z)", "(default: 50)"]),
                       ("interface", ["--between", "aliases", "(default: fcc AM)"])):
        text = " ".join(_help_text(cmd).split())
        for w in words:
            assert w in text, (cmd, w)


def _help_text(cmd: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[cmd].format_help()


@pytest.mark.parametrize(("typed", "meant"), [
    ("diamond", "DC"), ("Diamond", "DC"), ("amorphous", "AM"), ("liquid", "AM"), ("LIQUID", "AM"), ("am", "AM"),
    ("rocksalt", "NaCl"), ("rock salt", "NaCl"), ("nacl", "NaCl"), ("fluorite", "CaF2"), ("FCC", "fcc"),
    ("hcp", "hcp"),
])
def test_class_aliases_are_accepted_case_insensitively(typed, meant):
    assert resolve_class(typed, STRUCTURES) == meant


def test_unknown_class_names_the_classes_and_aliases():
    with pytest.raises(InputError, match=r"unknown class 'graphite'.*DC \(cubic diamond\).*'liquid'"):
        resolve_class("graphite", STRUCTURES)
    with pytest.raises(InputError, match="means DC, which these results do not have"):
        resolve_class("diamond", ["fcc", "AM"])


def test_every_shipped_class_has_a_full_name():
    from lessdask.model import load_model

    assert all(str(c) in CLASS_NAMES for c in load_model("default").classes_)


def _slab_store(path, n_frames=3, n_atoms=400):
    """A store with an fcc slab below z = 10 + frame and liquid above (positions saved)."""
    rng = np.random.default_rng(0)
    pos = rng.random((n_frames, n_atoms, 3)) * 30.0
    front = 10.0 + np.arange(n_frames)[:, None]
    labels = np.where(pos[:, :, 2] < front, STRUCTURES.index("fcc"), STRUCTURES.index("AM")).astype(np.int8)
    prob = np.full((n_frames, n_atoms, len(STRUCTURES)), 0.01, np.float32)
    np.put_along_axis(prob, labels[..., None].astype(np.int64), 0.93, axis=-1)
    ds = xr.Dataset(
        {"label": (("frame", "atom"), labels), "probability": (("frame", "atom", "structure"), prob),
         "position": (("frame", "atom", "spatial"), pos.astype(np.float32)),
         "dimensions": (("frame", "cell"), np.tile([30.0, 30, 30, 90, 90, 90], (n_frames, 1)))},
        coords={"frame": np.arange(n_frames), "time": ("frame", np.arange(n_frames) * 1.0, {"units": "ps"}),
                "atom": np.arange(1, n_atoms + 1), "structure": np.array(STRUCTURES, dtype=object),
                "cell": np.array(["a", "b", "c", "alpha", "beta", "gamma"], dtype=object)},
        attrs={"complete": True})
    ds.to_zarr(path, consolidated=False)
    return path


def test_interface_between_accepts_aliases(tmp_path):
    from lessdask.analysis import interface_position

    store = _slab_store(tmp_path / "s.zarr")
    by_alias = interface_position(store, between=("FCC", "liquid"), bins=15)
    by_name = interface_position(store, between=("fcc", "AM"), bins=15)
    assert by_alias.attrs["between"] == ["fcc", "AM"]
    np.testing.assert_allclose(by_alias["position"].values, by_name["position"].values)


def test_fractions_and_profile_classes_option_accepts_aliases(tmp_path):
    store = _slab_store(tmp_path / "s.zarr")
    r = _cli("fractions", store, "--classes", "liquid", "FCC", "--png", tmp_path / "f.png")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert "AM" in header and "fcc" in header and "bcc" not in header
    r = _cli("profile", store, "--classes", "amorphous", "--bins", "5", "--png", tmp_path / "p.png")
    assert r.returncode == 0, r.stderr
    r = _cli("interface", store, "--between", "fcc", "graphite", "--png", tmp_path / "i.png")
    assert r.returncode == 2 and "unknown class 'graphite'" in r.stderr and "Traceback" not in r.stderr


def test_model_info_lists_classes_with_full_names_settings_and_accuracy():
    r = _cli("model", "info")
    assert r.returncode == 0, r.stderr
    for text in ("DC       cubic diamond", "NaCl     rock salt", "CaF2     fluorite", "AM       amorphous / liquid",
                 "-1  other", "features: 24", "l = 3, 4, 6, 8, 10, 12", "held-out accuracy: val_config "):
        assert text in r.stdout, text
    info = json.loads(_cli("model", "info", "default", "--json").stdout)
    assert [c["name"] for c in info["classes"]] == STRUCTURES
    assert info["accuracy"]["val_config"] > 0.99
    # the table prints the accuracy stored in the model file, as a percentage
    assert f"val_config {100 * info['accuracy']['val_config']:.2f}%" in r.stdout


def test_classify_prints_a_human_summary_and_json_on_request(tmp_path, dump_file):
    r = _cli("classify", dump_file, "-o", tmp_path / "h.zarr", "--workers", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("classified 864 atoms x 4 frames in ")
    assert "atom-frames/s on 1 worker" in out and "phase fractions of the last frame (frame 3, 3 ps):" in out
    assert "fcc" in out and "face-centred cubic" in out
    assert "Warning" not in r.stderr and "leaked" not in r.stderr
    r = _cli("classify", dump_file, "-o", tmp_path / "j.zarr", "--workers", "1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["frames"] == 4 and summary["atoms"] == 864


def test_formats_without_times_warn_once_not_per_frame(tmp_path, crystal_frames, caplog):
    """An XYZ file has no time step: one log message instead of MDAnalysis' warning at every frame read."""
    import warnings

    from lessdask.trajectory import open_universe, read_frame

    frames, types, _ = crystal_frames
    path = tmp_path / "t.xyz"
    with open(path, "w") as f:
        for pos in frames:
            f.write(f"{len(pos)}\nframe\n" + "".join(f"Au {x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in pos))
    with caplog.at_level("INFO", logger="lessdask"), warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        u = open_universe(path)
        times = [float(u.trajectory[i].time) for i in range(len(frames))]
        read_frame(u, 2, pbc=False)
    assert times == [0.0, 1.0, 2.0, 3.0]
    assert sum("records no time step" in r.message for r in caplog.records) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u = open_universe(path, dt=0.002)
        assert float(u.trajectory[3].time) == pytest.approx(0.006)


def test_demo_writes_no_png_unless_asked(tmp_path, monkeypatch):
    """run_demo draws its figure only when given a path; the working directory gets only the store."""
    import lessdask.demo as demo

    monkeypatch.chdir(tmp_path)
    store = _slab_store(tmp_path / "lessdask-demo.zarr")  # what the run would have written
    monkeypatch.setattr("lessdask.pipeline.classify", lambda *a, **k: {"output": str(store)})
    r = demo.run_demo(output=store)
    assert r["plot"] is None and sorted(p.name for p in tmp_path.iterdir()) == ["lessdask-demo.zarr"]
    r = demo.run_demo(output=store, png=tmp_path / "figs" / "demo.png")
    assert r["plot"] == str(tmp_path / "figs" / "demo.png") and (tmp_path / "figs" / "demo.png").stat().st_size > 0


def test_extended_classes_are_described_too():
    from lessdask.classes import describe_class

    assert describe_class("graphite") == "graphite (hexagonal)"
    assert describe_class("my_phase") == "added class (lessdask extend)"
    assert resolve_class("Graphite", [*STRUCTURES, "graphite"]) == "graphite"
