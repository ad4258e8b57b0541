"""An OVITO-style picture of exported labels: the demo's atoms coloured by structure, drawn from the export file.

Exports the first and last frame of a demo store with :func:`lessdask.analysis.export_labels`
(extended XYZ, exactly what OVITO or VMD would load), reads that file back with ASE, and
draws each frame as OVITO would show it after a Slice modifier: an 8 Å thick slice through the
middle of the box, atoms as shaded spheres, nearer atoms in front, coloured by their
``structure`` column with the project's class colours (:mod:`lessdask.analysis.colors`),
looking along y at the slab (z up). Only public API and
the export file are used.

Run: lessdask demo -o demo.zarr && python jobs/render_demo_labels.py demo.zarr -o docs/demo-labels.png
(the demo classifies in ~1 min on 2 cores; this script takes seconds)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def draw(ax, atoms, title: str, radius: float = 1.2, thickness: float = 8.0) -> None:
    """Atoms of an ASE ``Atoms`` with a ``structure`` array as depth-sorted shaded spheres, viewed along y.

    Only a slice ``thickness`` Å thick through the middle of the box along y is drawn (OVITO's
    Slice modifier), so that crystal columns and liquid can be told apart.
    """
    from matplotlib.colors import to_rgb

    from lessdask.analysis import class_color

    pos = atoms.positions % atoms.cell.lengths()  # wrapped into the box, as OVITO shows a periodic cell
    names = np.asarray(atoms.arrays["structure"]).astype(str)
    keep = np.abs(pos[:, 1] - atoms.cell.lengths()[1] / 2) < thickness / 2
    pos, names = pos[keep], names[keep]
    order = np.argsort(pos[:, 1])[::-1]  # far (large y) first, near last: near atoms cover far ones
    depth = (pos[order, 1] - pos[:, 1].min()) / max(np.ptp(pos[:, 1]), 1e-9)
    base = np.array([to_rgb(class_color(n)) for n in names[order]])
    shade = (1.0 - 0.45 * depth)[:, None]  # depth cue: far atoms darker
    a, _, c = atoms.cell.lengths()
    ax.set_xlim(-2, a + 2)
    ax.set_ylim(-2, c + 2)
    ax.set_aspect("equal")
    ax.figure.draw_without_rendering()  # the final axes size (constrained layout), to size atoms in Å
    bbox = ax.get_window_extent()
    points_per_angstrom = bbox.width * 72 / ax.figure.dpi / (a + 4)
    size = (2 * radius * points_per_angstrom) ** 2
    ax.scatter(pos[order, 0], pos[order, 2], s=size, c=base * shade, edgecolors=(0, 0, 0, 0.35),
               linewidths=0.3)
    ax.scatter(pos[order, 0] - 0.3 * radius, pos[order, 2] + 0.3 * radius, s=size * 0.1,  # highlights
               c=np.clip(base * shade + 0.35, 0, 1), edgecolors="none", alpha=0.6)
    ax.plot([0, a, a, 0, 0], [0, 0, c, c, 0], color="0.3", lw=0.8)  # the cell, as OVITO draws it
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    ax.set_title(title, fontsize="medium")


def main(argv=None):
    import ase.io
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from lessdask.analysis import class_color, export_labels, open_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="results store of `lessdask demo` (it saves positions)")
    ap.add_argument("-o", "--output", default="docs/demo-labels.png", help="image to write (default: %(default)s)")
    ap.add_argument("--export", default=None, metavar="FILE",
                    help="keep the exported extended XYZ here (default: a temporary file)")
    args = ap.parse_args(argv)

    ds = open_results(args.store)
    first, last = int(ds["frame"].values[0]), int(ds["frame"].values[-1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.export or Path(tmp) / "labels.extxyz")
        export_labels(args.store, path, frames=[first, last])
        frames = ase.io.read(path, index=":", format="extxyz")
    fig = Figure(figsize=(9.0, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, atoms in zip(axes, frames):
        time = atoms.info.get("time_ps")
        draw(ax, atoms, f"frame {atoms.info['frame']}" + (f", {time:g} ps" if time is not None else ""))
    seen = sorted({str(s) for a in frames for s in a.arrays["structure"]},
                  key=lambda n: -sum(int(np.sum(a.arrays["structure"] == n)) for a in frames))
    fig.legend(handles=[Patch(color=class_color(n), label=n) for n in seen], loc="outside lower center",
               ncols=len(seen), frameon=False)
    fig.suptitle("lessdask demo: Au crystal with a molten slab, coloured by exported label "
                 "(8 Å slice, view along y)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
