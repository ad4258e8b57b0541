"""The optional OVITO comparison (``pip install '.[ovito]'``): PTM helpers of ``lessdask bench classify``."""

from __future__ import annotations

import numpy as np
import pytest

from lessdask.bench.classify import (
    OVITO_NOT_INSTALLED,
    OvitoUnavailable,
    import_ovito,
    ovito_structure_types,
    time_ovito_ptm,
)
from lessdask.reference import build_crystal


def _ovito_or_skip():
    try:
        import_ovito(threads=1)
    except OvitoUnavailable as exc:
        pytest.skip(f"OVITO comparison needs OVITO (pip install '.[ovito]'): {exc}")


def test_missing_ovito_gives_the_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ovito(name, *args, **kwargs):
        if name == "ovito" or name.startswith("ovito."):
            raise ModuleNotFoundError("No module named 'ovito'", name="ovito")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ovito)
    with pytest.raises(OvitoUnavailable) as err:
        import_ovito(threads=None)
    assert str(err.value) == OVITO_NOT_INSTALLED and not err.value.installed


def test_broken_ovito_is_skipped_with_the_reason(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "ovito" or name.startswith("ovito."):
            raise OSError("libEGL.so.1: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(OvitoUnavailable) as err:
        import_ovito(threads=None)
    assert str(err.value).startswith("OVITO comparison skipped: OSError: libEGL.so.1") and err.value.installed


@pytest.mark.parametrize("structure", ["fcc", "bcc"])
def test_ptm_labels_perfect_crystals(structure):
    _ovito_or_skip()
    xtal = build_crystal(structure, 4)
    types, names = ovito_structure_types(xtal.positions, xtal.dimensions, method="ptm")
    assert len(types) == xtal.n_atoms
    assert np.all(np.asarray(names)[types] == structure)


def test_adaptive_cna_labels_perfect_fcc():
    _ovito_or_skip()
    xtal = build_crystal("fcc", 4)
    types, names = ovito_structure_types(xtal.positions, xtal.dimensions, method="acna")
    assert np.all(np.asarray(names)[types] == "fcc")


def test_time_ovito_ptm_reports_rate_and_fractions():
    _ovito_or_skip()
    fcc = build_crystal("fcc", 4)
    shifted = fcc.positions + 0.3  # positions outside the box are wrapped
    r = time_ovito_ptm([fcc.positions, shifted], fcc.dimensions, threads=1)
    assert r["frames"] == 2 and r["atom_frames"] == 2 * fcc.n_atoms
    assert r["fcc_fraction"] == 1.0 and r["fractions"] == {"fcc": 1.0}
    assert r["atoms_per_second"] > 0 and r["threads"] == 1
