"""Are the reference glasses amorphous? Three independent checks of every quenched configuration.

For each glass run in the reference MD cache (``lessdask reference build --workdir CACHE``) and
each hold temperature, on the frames the data set uses:

* the bond-orientational crystalline fraction the builder itself applies before labelling a
  frame AM (:func:`lessdask.reference.amorphous.crystalline_fraction`, ten Wolde-Frenkel q6);
* OVITO's polyhedral template matching (all structure types; ICO is reported apart, it is an
  amorphous motif) and its diamond identification, over all atoms and over each species'
  sublattice, when OVITO is installed (``pip install ovito``);
* the labels of a LESS model given with ``--model`` (the default model trained before the
  glasses were added, so it has never seen a glass): the share of atoms it calls a crystal class;

and the total g(r) at the coldest hold against the liquid (``glasses_gr.png``). The undercooled
liquids (0.9 Tm) are checked the same way, and the first frame of every crystal run gives the
same measures for the crystals, for scale.

Run from the repository root::

    python jobs/glass_check.py CACHE [--model OLD.lessmodel] [--out docs/reference] [--attempt NaCl CsCl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lessdask.reference.amorphous import crystalline_fraction, largest_crystal_cluster, radial_distribution
from lessdask.reference.dataset import ALL_STRUCTURES, GLASS_FRAMES, NOT_VITRIFIED, _run_md_cached, _runs, glass_runs
from lessdask.reference.md import material


def _ptm_types(pos, dims):
    from ovito.data import DataCollection, Particles, SimulationCell
    from ovito.modifiers import IdentifyDiamondModifier, PolyhedralTemplateMatchingModifier
    from ovito.pipeline import Pipeline, StaticSource

    dc = DataCollection()
    cell = SimulationCell(pbc=(True, True, True))
    cell[...] = [[dims[0], 0, 0, 0], [0, dims[1], 0, 0], [0, 0, dims[2], 0]]
    dc.objects.append(cell)
    p = Particles()
    p.create_property("Position", data=pos)
    dc.objects.append(p)
    out = {}
    for name, mod in (("ptm", PolyhedralTemplateMatchingModifier()), ("diamond", IdentifyDiamondModifier())):
        if name == "ptm":
            for t in mod.structures:
                t.enabled = True
        pipe = Pipeline(source=StaticSource(data=dc))
        pipe.modifiers.append(mod)
        out[name] = np.asarray(pipe.compute().particles["Structure Type"])
    return out["ptm"], out["diamond"]


def _ptm(pos, dims, species):
    """Shares of PTM crystalline (fcc, hcp, bcc, sc, diamonds, graphene; over all atoms or over a
    species' sublattice) and icosahedral atoms; None without OVITO."""
    try:
        import ovito  # noqa: F401
    except ImportError:
        return None
    crystalline = np.zeros(len(pos), bool)
    ico = np.zeros(len(pos), bool)
    groups = [np.arange(len(pos))] + ([np.flatnonzero(species == s) for s in np.unique(species)]
                                      if len(np.unique(species)) > 1 else [])
    for g, idx in enumerate(groups):
        # PTM: 0 other, 1 fcc, 2 hcp, 3 bcc, 4 ico, 5 sc, 6 cubic diamond, 7 hex diamond, 8 graphene
        ptm, diamond = _ptm_types(pos[idx], dims)
        crystalline[idx] |= np.isin(ptm, [1, 2, 3, 5, 6, 7, 8]) | (diamond > 0)
        if g == 0:
            ico = ptm == 4
    return {"ptm_crystalline": round(float(crystalline.mean()), 4), "ptm_icosahedral": round(float(ico.mean()), 4)}


def _model_crystalline(model, pos, dims, species):
    from lessdask.frame import classify_frame

    res = classify_frame(pos, dims, species, model)
    names = np.asarray(list(map(str, model.classes_)) + ["other"])
    labels = names[np.asarray(res.labels)]
    return {"model_crystal": round(float(np.mean((labels != "AM") & (labels != "other"))), 4),
            "model_other": round(float(np.mean(labels == "other")), 4)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache", help="the reference MD cache (lessdask reference build --workdir)")
    ap.add_argument("--model", help="a LESS model to label the glasses with (default: none)")
    ap.add_argument("--out", default="docs/reference", help="where glass_check.json and glasses_gr.png go")
    ap.add_argument("--attempt", nargs="*", default=(), metavar="STRUCTURE",
                    help=f"first run the training quench of these materials into the cache (e.g. "
                         f"{' '.join(NOT_VITRIFIED)}, which the data set leaves out)")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    for st in args.attempt:
        _run_md_cached(glass_runs(st)[0], str(cache))
    model = None
    if args.model:
        from lessdask.model import load_model

        model = load_model(args.model)
    result = {"model": args.model, "runs": {}}
    gr = {}
    todo = [(st, r) for st in ALL_STRUCTURES for r in _runs(st)]
    todo += [(st, r) for st in NOT_VITRIFIED for r in glass_runs(st)[:1]]
    for st, run in todo:
        f = cache / f"{run['name']}.npz"
        if not f.exists():
            continue
        with np.load(f) as z:
            data = {k: z[k] for k in z.files}
        names = list(data["species_names"].astype(str))
        species = np.asarray(names)[data["species"]]
        if run["kind"] == "glass":
            holds = data["hold_temperature"]
            picks = [(t, int(k)) for t in run["temperatures"]
                     for k in np.flatnonzero(np.isclose(holds, t))[list(GLASS_FRAMES[run["split"]])]]
        elif run["kind"] == "liquid" and run["fraction"] is not None:
            picks = [(run["temperature"], k) for k in range(0, len(data["positions"]), 4)]
        elif run["kind"] == "crystal" and not run["name"].endswith("other-size"):
            picks = [(run["temperature"], 0)]
        else:
            picks = []
        rows = []
        for t, k in picks:
            pos, dims = data["positions"][k], data["dimensions"][k]
            row = {"temperature": float(t), "frame": k,
                   "crystalline_fraction": round(crystalline_fraction(pos, dims, data["species"]), 4),
                   "largest_crystal_cluster": largest_crystal_cluster(pos, dims, data["species"]),
                   "atoms": len(pos)}
            row.update(_ptm(pos, dims, data["species"]) or {})
            if model is not None:
                row.update(_model_crystalline(model, pos, dims, species))
            rows.append(row)
        if rows:
            result["runs"][run["name"]] = {"kind": run["kind"], "material": material(st)["material"],
                                           "frames": rows}
            print(run["name"], json.dumps(rows[-1]))
        if run["kind"] == "glass" and run["split"] == "train" and st not in NOT_VITRIFIED:
            k = int(np.flatnonzero(np.isclose(data["hold_temperature"], run["temperatures"][-1]))[-1])
            gr[st] = (run["temperatures"][-1], radial_distribution(data["positions"][k], data["dimensions"][k]))
            liq = cache / f"{st}-liquid.npz"
            if liq.exists():  # the liquid above Tm, else the glass's hottest hold
                with np.load(liq) as z:
                    ref = ("liquid", radial_distribution(z["positions"][-1], z["dimensions"][-1]))
            else:
                k0 = int(np.flatnonzero(np.isclose(data["hold_temperature"], run["temperatures"][0]))[-1])
                ref = (f"{run['temperatures'][0]:g} K", radial_distribution(data["positions"][k0],
                                                                           data["dimensions"][k0]))
            gr[st] += ref
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "glass_check.json").write_text(json.dumps(result, indent=1))
    if gr:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 2.4 * ((len(gr) + 2) // 3)), layout="constrained")
        axes = fig.subplots((len(gr) + 2) // 3, 3, squeeze=False).ravel()
        for ax, (st, (t, (r, g), ref_name, (r2, g2))) in zip(axes, gr.items()):
            ax.plot(r2, g2, color="0.6", lw=1, label=ref_name)
            ax.plot(r, g, color="tab:blue", lw=1.2, label=f"glass at {t:g} K")
            ax.set_title(f"{material(st)['material']} glass ({material(st)['potential'].split(' (')[0]})",
                         fontsize=9)
            ax.set_xlabel("r (Å)")
            ax.set_ylabel("g(r)")
            ax.legend(fontsize=7)
        for ax in axes[len(gr):]:
            ax.set_visible(False)
        fig.savefig(out / "glasses_gr.png", dpi=110)
    print(f"wrote {out / 'glass_check.json'}")


if __name__ == "__main__":
    main()
