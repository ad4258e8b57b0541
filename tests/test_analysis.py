"""Tests of lessdask.analysis on small, real Zarr results stores written to tmp_path."""

from __future__ import annotations

import os
import sys

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from lessdask import analysis
from lessdask.analysis import (
    CLASS_COLORS,
    OTHER,
    PhaseFractions,
    class_color,
    fronts,
    interface_position,
    open_results,
    phase_fractions,
    plot_fractions,
    plot_interface,
    plot_profile,
    profile,
)
from lessdask.errors import StoreError

STRUCTURES = ["fcc", "bcc", "hcp", "DC", "NaCl", "CsCl", "CaF2", "AM"]
FCC, AM = STRUCTURES.index("fcc"), STRUCTURES.index("AM")


def _make_store(
    path,
    labels,
    *,
    probability=None,
    positions=None,
    box=None,
    times=None,
    atom_ids=None,
    complete=True,
    structures=STRUCTURES,
    chunks=None,
    seed=0,
):
    """Write a results store following the contract and return its path.

    ``labels`` is (n_frames, n_atoms) int; ``probability`` defaults to random rows whose
    argmax is the label (uniform-ish rows for label -1); ``box`` is (a, b, c) or a
    (n_frames, 3) array of orthorhombic lengths.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int8)
    n_frames, n_atoms = labels.shape
    n_classes = len(structures)
    if probability is None:
        probability = rng.random((n_frames, n_atoms, n_classes)).astype(np.float32) * 0.5
        f, a = np.nonzero(labels >= 0)
        probability[f, a, labels[f, a]] += 2.0
        probability /= probability.sum(axis=-1, keepdims=True)
    if times is None:
        times = np.arange(n_frames, dtype=np.float64) * 0.5
    if atom_ids is None:
        atom_ids = np.arange(1, n_atoms + 1, dtype=np.int64)
    ds = xr.Dataset(
        {
            "label": (
                ("frame", "atom"),
                labels,
                {
                    "flag_values": np.arange(-1, n_classes, dtype=np.int8),
                    "flag_meanings": " ".join(["none", *structures]),
                },
            ),
            "probability": (("frame", "atom", "structure"), np.asarray(probability, dtype=np.float32)),
        },
        coords={
            "frame": np.arange(n_frames, dtype=np.int64),
            "time": ("frame", np.asarray(times, dtype=np.float64), {"units": "ps"}),
            "atom": np.asarray(atom_ids, dtype=np.int64),
            "structure": np.asarray(structures, dtype=object),
        },
        attrs={"complete": bool(complete)},
    )
    if positions is not None:
        ds["position"] = (("frame", "atom", "spatial"), np.asarray(positions, dtype=np.float32), {"units": "Å"})
        ds = ds.assign_coords(spatial=np.array(["x", "y", "z"], dtype=object))
    if box is not None:
        lengths = np.broadcast_to(np.asarray(box, dtype=np.float64), (n_frames, 3))
        dims = np.concatenate([lengths, np.full((n_frames, 3), 90.0)], axis=1)
        ds["dimensions"] = (("frame", "cell"), dims)
        ds = ds.assign_coords(cell=np.array(["a", "b", "c", "alpha", "beta", "gamma"], dtype=object))
    ds = ds.chunk(chunks or {"frame": 2, "atom": max(1, n_atoms // 3)})
    ds.to_zarr(path, mode="w", consolidated=False)
    return path


def _random_labels(rng, n_frames, n_atoms, unlabelled=0.05):
    labels = rng.integers(0, len(STRUCTURES), size=(n_frames, n_atoms)).astype(np.int8)
    labels[rng.random(labels.shape) < unlabelled] = -1
    return labels


def _slab(rng, n_frames, n_atoms, box, front):
    """Positions uniform in the box (some shifted by a box image); fcc below ``front``."""
    box = np.asarray(box, dtype=np.float64)
    pos = rng.random((n_frames, n_atoms, 3)) * box
    front = np.broadcast_to(np.asarray(front, dtype=np.float64), (n_frames,))
    labels = np.where(pos[:, :, 2] < front[:, None], FCC, AM).astype(np.int8)
    images = rng.integers(-1, 2, size=(n_frames, n_atoms, 3))  # stored unwrapped: wrapping is tested
    return pos + images * box, labels


# --------------------------------------------------------------------------- open_results


def test_open_results_refuses_incomplete_store(tmp_path):
    path = _make_store(tmp_path / "run.zarr", np.zeros((2, 5)), complete=False)
    with pytest.raises(StoreError) as err:
        open_results(path)
    assert "run.zarr" in str(err.value) and "--resume" in str(err.value)
    with pytest.raises(StoreError):
        phase_fractions(path)
    ds = open_results(path, allow_incomplete=True)
    assert ds.sizes["atom"] == 5


def test_open_results_missing_or_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="nothere.zarr"):
        open_results(tmp_path / "nothere.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="plain"):
        open_results(tmp_path / "plain")


def test_open_results_is_lazy(tmp_path):
    path = _make_store(tmp_path / "r.zarr", np.zeros((3, 6)))
    ds = open_results(str(path))
    assert isinstance(ds["label"].data, da.Array)
    assert [str(s) for s in ds["structure"].values] == STRUCTURES


# --------------------------------------------------------------------------- fractions


def test_label_fractions_match_numpy_count(tmp_path):
    rng = np.random.default_rng(1)
    labels = _random_labels(rng, 5, 300)
    path = _make_store(tmp_path / "r.zarr", labels)
    frac = phase_fractions(path)
    assert isinstance(frac.data, da.Array)  # lazy
    assert frac.dims == ("frame", "structure")
    assert [str(s) for s in frac["structure"].values] == [*STRUCTURES, OTHER]
    np.testing.assert_allclose(frac["time"].values, np.arange(5) * 0.5)
    values = frac.values
    for k in range(len(STRUCTURES)):
        np.testing.assert_allclose(values[:, k], (labels == k).sum(axis=1) / labels.shape[1])
    np.testing.assert_allclose(values[:, -1], (labels == -1).sum(axis=1) / labels.shape[1])
    np.testing.assert_allclose(values.sum(axis=1), 1.0)


def test_no_unlabelled_class_when_every_atom_is_labelled(tmp_path):
    rng = np.random.default_rng(2)
    labels = _random_labels(rng, 3, 120, unlabelled=0.0)
    frac = phase_fractions(open_results(_make_store(tmp_path / "r.zarr", labels)))
    assert [str(s) for s in frac["structure"].values] == STRUCTURES
    np.testing.assert_allclose(frac.values.sum(axis=1), 1.0)


def test_probability_fractions_are_mean_probability(tmp_path):
    rng = np.random.default_rng(3)
    labels = _random_labels(rng, 4, 200)
    path = _make_store(tmp_path / "r.zarr", labels)
    ds = open_results(path)
    frac = phase_fractions(ds, method="probability")
    assert frac.dims == ("frame", "structure")
    expected = np.asarray(ds["probability"].values, dtype=np.float64).mean(axis=1)
    np.testing.assert_allclose(frac.values, expected, rtol=1e-6)
    np.testing.assert_allclose(frac.values.sum(axis=1), 1.0, rtol=1e-5)


def test_atom_restriction(tmp_path):
    rng = np.random.default_rng(4)
    labels = _random_labels(rng, 3, 150)
    ids = np.arange(150, dtype=np.int64) * 3 + 10  # non-contiguous atom ids
    ds = open_results(_make_store(tmp_path / "r.zarr", labels, atom_ids=ids))
    chosen = ids[rng.choice(150, size=40, replace=False)]
    mask = np.isin(ids, chosen)
    frac = phase_fractions(ds, atoms=chosen).sel(structure=STRUCTURES)
    for k in range(len(STRUCTURES)):
        np.testing.assert_allclose(frac.values[:, k], (labels[:, mask] == k).sum(axis=1) / 40)
    prob = phase_fractions(ds, method="probability", atoms=chosen)
    np.testing.assert_allclose(prob.values, ds["probability"].values[:, mask].astype(np.float64).mean(axis=1),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="not in the results store"):
        phase_fractions(ds, atoms=[ids[0], 5])


# --------------------------------------------------------------------------- profiles


def test_missing_position_variable_gives_store_error(tmp_path):
    ds = open_results(_make_store(tmp_path / "r.zarr", np.zeros((2, 10))))
    with pytest.raises(StoreError, match="save.positions"):
        profile(ds)
    with pytest.raises(StoreError, match="--save-positions"):
        interface_position(ds)


def test_two_phase_slab_profile_boundary(tmp_path):
    rng = np.random.default_rng(5)
    box = (20.0, 20.0, 40.0)
    pos, labels = _slab(rng, 4, 3000, box, front=box[2] / 2)
    ds = open_results(_make_store(tmp_path / "slab.zarr", labels, positions=pos, box=box))
    prof = profile(ds, axis="z", bins=20)
    assert isinstance(prof["fraction"].data, da.Array)  # lazy
    prof = prof.compute()
    assert prof["fraction"].dims == ("bin", "structure")
    assert prof["probability"].dims == ("bin", "structure")
    width = box[2] / 20
    np.testing.assert_allclose(prof["bin_center"].values, (np.arange(20) + 0.5) * width)
    fcc = prof["fraction"].sel(structure="fcc").values
    centers = prof["bin_center"].values
    # the fcc fraction falls through 0.5 within one bin of L/2
    i = np.flatnonzero((fcc[:-1] >= 0.5) & (fcc[1:] < 0.5))[0]
    crossing = centers[i] + (centers[i + 1] - centers[i]) * (fcc[i] - 0.5) / (fcc[i] - fcc[i + 1])
    assert abs(crossing - box[2] / 2) <= width
    assert np.all(fcc[centers < box[2] / 2 - width] == 1.0)
    assert np.all(fcc[centers > box[2] / 2 + width] == 0.0)
    prob_fcc = prof["probability"].sel(structure="fcc").values
    assert prob_fcc[0] > 0.5 > prob_fcc[-1]
    np.testing.assert_allclose(prof["probability"].values.sum(axis=1), 1.0, rtol=1e-5)
    # frame selection averages over the given frames only
    one = profile(ds, axis="z", bins=20, frames=[1]).compute()
    assert one.attrs["n_frames"] == 1
    assert np.isclose(float(one["count"].sum()), 3000)


def test_moving_front_velocity(tmp_path):
    """fcc below a rising front in a periodic box: that front (fcc below) moves at v; the
    fcc/AM contact at the box edge (fcc above it) stays put."""
    rng = np.random.default_rng(6)
    box = (15.0, 15.0, 60.0)
    z0, v = 12.0, 0.75  # Å, Å/ps
    times = np.arange(0.0, 41.0, 4.0)  # ps; front from 12 to 42 Å
    pos, labels = _slab(rng, times.size, 2500, box, front=z0 + v * times)
    ds = open_results(_make_store(tmp_path / "front.zarr", labels, positions=pos, box=box, times=times))
    iface = interface_position(ds, axis="z", between=("fcc", "AM"), bins=40)
    assert iface["position"].dims == ("frame", "front")
    assert iface.attrs["n_fronts"] == 2
    np.testing.assert_allclose(iface["time"].values, times)
    moving = iface.isel(front=int(np.flatnonzero(iface["orientation"].values == -1)[0]))
    edge = iface.isel(front=int(np.flatnonzero(iface["orientation"].values == 1)[0]))
    assert np.all(np.abs(moving["position"].values - (z0 + v * times)) <= box[2] / 40)
    assert abs(float(moving["velocity"]) - v) <= 0.05 * v
    assert float(moving["growth"]) == pytest.approx(float(moving["velocity"]))  # fcc below: fcc advances
    assert 0 <= float(moving["velocity_stderr"]) < 0.05 * v  # fronts on slab edges: exactly on the line
    assert abs(float(edge["velocity"])) < 0.05
    assert int(moving["n_frames"]) == int(edge["n_frames"]) == times.size


def test_every_front_of_a_slab_moving_apart(tmp_path):
    """A melting fcc slab: both of its fronts are found and followed, moving in opposite directions."""
    rng = np.random.default_rng(11)
    box = np.array([12.0, 12.0, 80.0])
    times = np.arange(8) * 2.0
    lo, hi = 20.0 + 1.0 * times, 60.0 - 1.0 * times  # the fcc slab shrinks from both sides
    pos = rng.random((times.size, 3000, 3)) * box
    inside = (pos[:, :, 2] > lo[:, None]) & (pos[:, :, 2] < hi[:, None])
    labels = np.where(inside, FCC, AM).astype(np.int8)
    ds = open_results(_make_store(tmp_path / "slab.zarr", labels, positions=pos, box=box, times=times))
    iface = interface_position(ds, bins=40)
    assert iface.attrs["n_fronts"] == 2
    by_side = {int(o): iface.isel(front=j) for j, o in enumerate(iface["orientation"].values)}
    np.testing.assert_allclose(by_side[1]["position"].values, lo, atol=1.5)  # fcc above the lower front
    np.testing.assert_allclose(by_side[-1]["position"].values, hi, atol=1.5)
    assert float(by_side[1]["velocity"]) == pytest.approx(1.0, abs=0.1)
    assert float(by_side[-1]["velocity"]) == pytest.approx(-1.0, abs=0.1)
    # the slab shrinks: fcc retreats through both fronts
    assert float(by_side[1]["growth"]) < 0 and float(by_side[-1]["growth"]) < 0


def test_front_crossing_the_periodic_boundary_keeps_its_identity(tmp_path):
    rng = np.random.default_rng(12)
    box = np.array([12.0, 12.0, 40.0])
    times = np.arange(10) * 1.0
    lo = np.mod(34.0 + 1.5 * times, 40.0)  # crosses z = 40 -> 0 at t = 4 ps
    pos = rng.random((times.size, 2500, 3)) * box
    # fcc in [lo, lo + 15) modulo the box
    inside = np.mod(pos[:, :, 2] - lo[:, None], 40.0) < 15.0
    labels = np.where(inside, FCC, AM).astype(np.int8)
    ds = open_results(_make_store(tmp_path / "wrap.zarr", labels, positions=pos, box=box, times=times))
    iface = interface_position(ds, bins=40)
    assert iface.attrs["n_fronts"] == 2
    for j in range(2):
        f = iface.isel(front=j)
        assert int(f["n_frames"]) == times.size
        assert float(f["velocity"]) == pytest.approx(1.5, abs=0.1)
        assert np.all((f["position"].values >= 0) & (f["position"].values < 40.0))


def test_velocity_uncertainty_grows_with_frame_to_frame_noise(tmp_path):
    """The same mean motion with a jittering front: a wider error bar, and the scatter is measured."""
    box = np.array([12.0, 12.0, 60.0])
    times = np.arange(12) * 1.0
    out = {}
    for name, jitter in (("smooth", 0.0), ("noisy", 3.0)):
        rng = np.random.default_rng(13)
        front = 15.0 + 1.0 * times + jitter * rng.choice([-1.0, 1.0], size=times.size)
        pos, labels = _slab(rng, times.size, 4000, box, front=front)
        ds = open_results(_make_store(tmp_path / f"{name}.zarr", labels, positions=pos, box=box, times=times))
        iface = interface_position(ds, bins=60)
        out[name] = iface.isel(front=int(np.flatnonzero(iface["orientation"].values == -1)[0]))
    assert float(out["noisy"]["velocity_stderr"]) > 5 * float(out["smooth"]["velocity_stderr"])
    assert float(out["noisy"]["position_noise"]) == pytest.approx(3.0, rel=0.35)
    assert float(out["noisy"]["velocity"]) == pytest.approx(1.0, abs=3 * float(out["noisy"]["velocity_stderr"]))


def test_plots_write_png(tmp_path):
    rng = np.random.default_rng(7)
    box = (12.0, 12.0, 30.0)
    times = np.arange(4) * 2.0
    pos, labels = _slab(rng, 4, 800, box, front=8.0 + 1.0 * times)
    ds = open_results(_make_store(tmp_path / "r.zarr", labels, positions=pos, box=box, times=times))
    outputs = [
        plot_fractions(phase_fractions(ds), tmp_path / "fractions.png"),
        plot_fractions(phase_fractions(ds, method="probability"), tmp_path / "probability.png"),
        plot_profile(profile(ds, bins=15), tmp_path / "figs" / "profile.png"),
        plot_interface(interface_position(ds, bins=15), tmp_path / "interface.png"),
    ]
    for out in outputs:
        data = out.read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_colours_are_fixed():
    for name in ("fcc", "bcc", "hcp", "DC", "NaCl", "CsCl", "CaF2", "AM", "graphite"):
        assert class_color(name) == CLASS_COLORS[name]
    assert len({CLASS_COLORS[n] for n in STRUCTURES}) == len(STRUCTURES)


def test_a_new_class_has_the_same_colour_in_every_process():
    """Classes added by 'extend' get a fallback colour that does not depend on the process
    (Python's str hash is salted per process; the fallback must not use it)."""
    import subprocess

    names = ["graphite2", "my_new_phase", "wurtzite"]
    code = f"from lessdask.analysis import class_color; print([class_color(n) for n in {names!r}])"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert seen == {str([class_color(n) for n in names]) + "\n"}
    assert len({class_color(n) for n in names}) > 1  # not one colour for every unknown class


# --------------------------------------------------------------------------- MDAnalysis


def _universe(n_frames=3, n_atoms=30, seed=8):
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.coordinates.memory import MemoryReader

    rng = np.random.default_rng(seed)
    u = mda.Universe.empty(n_atoms, trajectory=True)
    u.add_TopologyAttr("types", ["Cu"] * n_atoms)
    coords = (rng.random((n_frames, n_atoms, 3)) * 10.0).astype(np.float32)
    dims = np.tile([10.0, 10.0, 10.0, 90.0, 90.0, 90.0], (n_frames, 1)).astype(np.float32)
    u.load_new(coords, format=MemoryReader, dimensions=dims)
    return u


def test_phase_fractions_mdanalysis_entry_point_matches_a_direct_classification():
    """PhaseFractions with the real feature engine and the shipped default model."""
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    from lessdask.features import compute_features
    from lessdask.model import load_model
    from lessdask.reference import build_crystal

    c = build_crystal("fcc", 4)
    rng = np.random.default_rng(3)
    coords = np.stack([c.positions + rng.normal(0, s, c.positions.shape) for s in (0.05, 0.1, 0.45)])
    u = mda.Universe.empty(c.n_atoms, trajectory=True)
    u.add_TopologyAttr("types", ["Au"] * c.n_atoms)
    u.load_new(coords.astype(np.float32), format=MemoryReader, dimensions=np.tile(c.dimensions, (3, 1)))
    pf = PhaseFractions(u.atoms, model="default").run()
    model = load_model("default")
    structures = list(map(str, model.classes_))
    assert pf.results.fractions.shape == (3, len(structures))
    for k, ts in enumerate(u.trajectory):
        X, _ = compute_features(u.atoms.positions, ts.dimensions, None, settings=model.feature_settings_)
        labels = model.predict_labels(X)  # -1 ("other") counts in the denominator only
        direct = np.mean(labels[:, None] == np.arange(len(structures))[None, :], axis=0)
        np.testing.assert_allclose(pf.results.fractions[k], direct, atol=1e-12)
    fcc = structures.index("fcc")
    assert pf.results.fractions[0, fcc] > 0.99  # a gently shaken crystal
    assert pf.results.fractions[2, fcc] < 0.5  # 0.45 Å noise: no longer a crystal


def test_lazy_reexports():
    import lessdask

    assert lessdask.open_results is analysis.open_results
    assert lessdask.phase_fractions is analysis.phase_fractions


def test_centred_slab_has_two_fronts(tmp_path):
    """fcc in the middle of a periodic box: both fronts, each with the side fcc lies on."""
    rng = np.random.default_rng(9)
    box = np.array([12.0, 12.0, 40.0])
    pos = rng.random((2, 3000, 3)) * box
    labels = np.where((pos[:, :, 2] > 15.0) & (pos[:, :, 2] < 30.0), FCC, AM).astype(np.int8)
    ds = open_results(_make_store(tmp_path / "mid.zarr", labels, positions=pos, box=box))
    iface = interface_position(ds, bins=40)
    assert iface.attrs["n_fronts"] == 2
    got = sorted(zip(iface["position"].values[0], iface["orientation"].values))
    assert got[0][0] == pytest.approx(15.0, abs=1.0) and got[0][1] == 1  # fcc above
    assert got[1][0] == pytest.approx(30.0, abs=1.0) and got[1][1] == -1  # fcc below
    assert np.all(np.abs(iface["velocity"].values) < 0.5)


def test_find_fronts_rules():
    centers = np.arange(10) + 0.5
    # one phase only: no front
    assert fronts.find_fronts(np.ones(10), centers, 10.0) == []
    # A at the bottom, B at the top: the front inside the box and the contact across the boundary
    got = fronts.find_fronts(np.r_[np.ones(4), np.zeros(6)], centers, 10.0)
    assert [s for _, s in got] == [1, -1] and got[1][0] == pytest.approx(4.0) and got[0][0] == pytest.approx(0.0)
    # empty slabs are skipped and interpolated over
    got = fronts.find_fronts(np.r_[np.ones(3), np.nan, np.zeros(6)], centers, 10.0)
    assert [z for z, s in got if s == -1] == [pytest.approx(3.5)]
    # noise flickering across 0.5 inside the interface region is one front, not three
    phi = np.r_[1.0, 1.0, 1.0, 0.55, 0.45, 0.6, 0.4, 0.0, 0.0, 0.0]
    falling = [z for z, s in fronts.find_fronts(phi, centers, 10.0) if s == -1]
    assert len(falling) == 1 and 3.5 < falling[0] < 6.5
    assert len([z for z, s in fronts.find_fronts(phi, centers, 10.0, hysteresis=0.0) if s == -1]) == 2
    # positions are wrapped into [0, L)
    got = fronts.find_fronts(np.r_[0.1, np.full(8, 0.9), 0.0], centers, 10.0)
    assert all(0.0 <= z < 10.0 for z, _ in got) and len(got) == 2


@pytest.mark.parametrize(("value", "err", "text"), [
    (0.97312, 0.0523, "0.97 ± 0.05"), (12.3456, 0.147, "12.35 ± 0.15"), (1234.0, 56.0, "1230 ± 60"),
    (-0.01234, 0.0961, "0.0 ± 0.1"), (-0.01234, 0.0261, "-0.012 ± 0.026"), (3.0, np.nan, "3 (no uncertainty)"),
])
def test_format_uncertain_examples(value, err, text):
    assert fronts.format_uncertain(value, err) == text


@given(value=st.floats(-1e4, 1e4), err=st.floats(1e-4, 1e3))
def test_format_uncertain_never_shows_more_digits_than_the_uncertainty(value, err):
    text = fronts.format_uncertain(value, err)
    v, e = text.split(" ± ")
    assert len(v.partition(".")[2]) == len(e.partition(".")[2])  # same last decimal place
    digits = e.replace(".", "").lstrip("0")
    assert 1 <= len(digits.rstrip("0") or "0") <= 2  # one or two significant digits
    assert abs(float(e) - err) <= 0.5 * err  # rounding keeps it honest
    assert abs(float(v) - value) <= float(e)


def test_interface_report_lists_every_front_with_its_uncertainty(tmp_path):
    from lessdask.cli.reports import interface_report

    rng = np.random.default_rng(14)
    box = np.array([12.0, 12.0, 80.0])
    times = np.arange(6) * 2.0
    pos = rng.random((times.size, 3000, 3)) * box
    lo, hi = 20.0 + times + rng.normal(0, 0.5, times.size), 60.0 - times + rng.normal(0, 0.5, times.size)
    inside = (pos[:, :, 2] > lo[:, None]) & (pos[:, :, 2] < hi[:, None])
    labels = np.where(inside, FCC, AM).astype(np.int8)
    store = _make_store(tmp_path / "slab.zarr", labels, positions=pos, box=box, times=times)
    text = interface_report(str(store), bins=40, png=tmp_path / "i.png")
    assert "fcc/AM fronts along z: 2" in text
    assert "front 0: fcc above" in text and "front 1: fcc below" in text
    assert text.count(" ± ") >= 4 and (tmp_path / "i.png").stat().st_size > 1000
    assert len(text.splitlines()) == 1 + 2 + 1 + times.size + 1  # header, fronts, table head, rows, plot
