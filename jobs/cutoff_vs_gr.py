"""Where the default adaptive cutoff (N, P) falls relative to the first minimum of g(r).

For each of the eight reference structures, at 0.5 of its potential's melting point
(frames of the reference MD runs cached by ``lessdask reference build``): the first peak
and first minimum of the radial distribution function, and the mean and 5-95 % range of
the per-atom adaptive cutoff. Writes a Markdown table (stdout) used in docs/science.md.

Run: python jobs/cutoff_vs_gr.py [WORKDIR]   (default WORKDIR: reference.nc.work)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from lessdask.features import FeatureSettings, compute_features
from lessdask.reference.dataset import CRYSTALS, EXTENSION


def rdf(positions, dims, r_max=7.0, dr=0.02):
    L = dims[:3]
    tree = cKDTree(positions % L, boxsize=L)
    d = tree.sparse_distance_matrix(tree, r_max, output_type="ndarray")["v"]
    d = d[d > 1e-6]
    edges = np.arange(0, r_max + dr, dr)
    h, _ = np.histogram(d, edges)
    r = 0.5 * (edges[1:] + edges[:-1])
    rho = len(positions) / np.prod(L)
    g = h / (len(positions) * rho * 4 * np.pi * r**2 * dr)
    return r, g


def first_peak_and_minimum(r, g):
    k = np.convolve(g, np.ones(5) / 5, mode="same")
    peak = int(np.argmax(k))
    i = peak
    while i + 1 < len(k) and not (k[i] <= k[i + 1] and k[i] < 0.5 * k[peak]):
        i += 1
    return r[peak], r[i]


def main(workdir="reference.nc.work"):
    s = FeatureSettings()
    rows = ["| structure | first peak of g(r) (Å) | first minimum of g(r) (Å) | adaptive cutoff, mean (5-95 %) (Å) | "
            "neighbours, median |",
            "|---|---|---|---|---|"]
    for st in CRYSTALS + EXTENSION:
        f = Path(workdir) / f"{st}-crystal-0.5Tm.npz"
        if not f.exists():
            continue
        z = np.load(f)
        pos, dims, species = z["positions"][-1], z["dimensions"][-1], z["species"]
        r, g = rdf(pos, dims)
        peak, minimum = first_peak_and_minimum(r, g)
        _, n, rc = compute_features(pos, dims, species, settings=s, return_cutoff=True)
        lo, hi = np.percentile(rc, [5, 95])
        rows.append(f"| {st} | {peak:.2f} | {minimum:.2f} | {rc.mean():.2f} ({lo:.2f}-{hi:.2f}) | "
                    f"{int(np.median(n))} |")
    print(f"N = {s.n_nearest}, P = {s.padding}")
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
