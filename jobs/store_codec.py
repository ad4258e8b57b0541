"""Write time and size of one results-store chunk of class probabilities per codec (docs/design.md).

  python jobs/store_codec.py [--atoms 250000] [--repeat 5]

Probabilities like the default model's (near one-hot over 8 classes, float32), one chunk of
``--atoms`` atoms, written ``--repeat`` times into a zarr (format 2) array; median seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import zarr
from numcodecs import Blosc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.atoms
    p = np.full((1, n, 8), 4.5e-5, np.float32)
    p[0, np.arange(n), rng.integers(0, 8, n)] = 0.99968
    p += rng.normal(0, 1e-6, p.shape).astype(np.float32)
    codecs = {"zarr default (Zstd level 0)": None,
              "Blosc LZ4 + shuffle (lessdask)": Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)}
    for name, codec in codecs.items():
        with tempfile.TemporaryDirectory() as d:
            kw = {} if codec is None else {"compressors": (codec,)}
            z = zarr.create_array(os.path.join(d, "p"), shape=p.shape, chunks=p.shape, dtype=p.dtype, zarr_format=2,
                                  **kw)
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                z[:] = p
                times.append(time.perf_counter() - t)
            size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
        print(f"{name}: {statistics.median(times):.3f} s per {n:,}-atom chunk, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
