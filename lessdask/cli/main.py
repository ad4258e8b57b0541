"""The ``lessdask`` command line: a thin shell over the Python API.

Each sub-command parses its arguments, makes exactly one call into the library and
prints what it returns. Errors the user can fix (:class:`lessdask.errors.LessdaskError`)
are printed as one message with exit code 2, never as a traceback.

Each sub-command is one ``_add_<command>`` function below; keep logic out of this file
(report formatting lives in :mod:`lessdask.cli.reports`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from lessdask import __version__
from lessdask.errors import LessdaskError


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where it runs (default: an embedded LocalCluster)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786"
                        " (default: none, an embedded cluster)")
    g.add_argument("--scheduler-file", metavar="PATH",
                   help="scheduler file written by 'dask scheduler --scheduler-file' (default: none)")
    g.add_argument("--cluster", metavar="KIND",
                   help="start workers with dask-jobqueue: slurm, pbs, sge, lsf, ... (default: none)")
    g.add_argument("--cluster-config", metavar="YAML",
                   help="cluster profile: a YAML file or a shipped one (slurm, pbs; 'lessdask config show slurm') "
                        "(default: dask-jobqueue's own configuration)")
    g.add_argument("--jobs", type=_positive_int, default=None,
                   help="with --cluster: number of batch jobs to scale to (default: 1)")
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="embedded cluster: worker processes (default: one per core)")
    g.add_argument("--wait-workers", type=float, default=None, metavar="SECONDS",
                   help="how long a run may have no worker at all, queue waits included, before it fails "
                        "(default 86400: a day); progress messages say what the batch jobs wait for")


def _cluster_settings(args: argparse.Namespace) -> dict:
    return {
        "scheduler": args.scheduler,
        "scheduler_file": args.scheduler_file,
        "cluster": args.cluster,
        "cluster_config": args.cluster_config,
        "jobs": args.jobs,
        "n_workers": args.workers,
        "wait_workers": args.wait_workers,
    }


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


_COMMANDS: list = []


def command(fn):
    """Register a sub-command builder (used as a decorator below)."""
    _COMMANDS.append(fn)
    return fn


# --------------------------------------------------------------------------- commands
# Each ``@command _add_<name>(sub)`` registers one sub-command and sets ``func`` to a
# callable taking the parsed namespace; it imports the library lazily so that
# ``lessdask --help`` stays fast.

_BENCH: list = []


def bench_command(fn):
    """Register a ``lessdask bench <name>`` builder (takes the bench sub-parsers)."""
    _BENCH.append(fn)
    return fn


@command
def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks that time lessdask and a peer in the same run")
    bench_sub = p.add_subparsers(dest="bench", metavar="BENCHMARK")
    bench_sub.required = True
    for add in _BENCH:
        add(bench_sub)


# ---- features: bench features (lessdask/bench/features.py)


@bench_command
def _add_bench_features(bench_sub) -> None:
    p = bench_sub.add_parser("features", help="time the feature engine and freud on ~1M-atom fcc and rock-salt frames")
    p.add_argument("--atoms", type=int, default=1_000_000, help="approximate atoms per frame (default 1,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions; medians are reported")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.features import bench_features

        _print_json(bench_features(n_atoms=args.atoms, repeat=args.repeat, json_path=args.json))

    p.set_defaults(func=run)


# ---- reference: reference build


def _feature_settings(path):
    """FeatureSettings from a YAML file (None: the defaults); a bad file is an InputError."""
    if path is None:
        return None
    import yaml

    from lessdask.configs import config_path
    from lessdask.errors import InputError
    from lessdask.features import FeatureSettings

    path = config_path(path, kind="features")
    try:
        with open(path) as f:
            return FeatureSettings.from_dict({"average": True, **(yaml.safe_load(f) or {})})
    except OSError as exc:
        raise InputError(f"cannot read feature settings {path}: {exc.strerror}") from exc
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid feature settings ({exc}); "
                         "see 'lessdask config show features-default'") from exc


@command
def _add_reference(sub) -> None:
    p = sub.add_parser("reference", help="build the labelled reference data from LAMMPS MD")
    rsub = p.add_subparsers(dest="reference", metavar="ACTION")
    rsub.required = True
    b = rsub.add_parser("build", help="run the reference MD (resumable) and write the labelled data set")
    b.add_argument("-o", "--output", default="reference.nc", help="NetCDF file to write (default reference.nc)")
    b.add_argument("--structures", nargs="+", default=None,
                   help="materials to include (default: the eight of Table 1, CuZr and Ge)")
    b.add_argument("--workdir", help="cache of finished MD runs (default OUTPUT.work); rerun to resume")
    b.add_argument("--workers", type=int, default=None, help="MD runs in parallel (default: cores)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    b.add_argument("--features", metavar="YAML",
                   help="feature settings: a YAML file or a shipped name (default: 'default'; "
                        "'paper' gives the paper's twelve features; 'lessdask config show features-paper')")

    def run(args):
        from lessdask.reference.dataset import ALL_STRUCTURES, build_reference

        _print_json(build_reference(args.output, structures=tuple(args.structures or ALL_STRUCTURES),
                                    workdir=args.workdir, workers=args.workers, overwrite=args.overwrite,
                                    settings=_feature_settings(args.features)))

    b.set_defaults(func=run)

    pl = rsub.add_parser("plot", help="per-class feature distributions of the reference data (PNG)")
    pl.add_argument("-o", "--output-dir", default="reference-plots", help="folder for the PNG figures")
    pl.add_argument("--reference", help="reference data file (default: the shipped set)")

    def plot(args):
        from lessdask.reference.dataset import plot_reference

        for f in plot_reference(args.output_dir, path=args.reference):
            print(f)

    pl.set_defaults(func=plot)


# ---- model: train | bench model


@command
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a LESS model on the reference data and report held-out accuracy")
    p.add_argument("-o", "--output", default="model.lessmodel", help="model file to write (default model.lessmodel)")
    p.add_argument("--preset", default="fast",
                   help="fast, paper, or a YAML model spec ('lessdask config show model-paper' prints one)")
    p.add_argument("--reference", help="reference data file (default: the shipped set)")
    p.add_argument("--report", default="training-report", metavar="DIR",
                   help="directory for report.json and the PNG figures (default training-report)")
    p.add_argument("--compare-base-models", action="store_true", help="also fit each base model alone (Figure 2c)")
    p.add_argument("--jobs", type=int, default=None, help="parallel fits (joblib n_jobs) (default: joblib's, one)")
    p.add_argument("--envelope-quantile", type=float, default=None,
                   help="share of held-out atoms of each class inside its envelope; atoms outside the envelope "
                        "of their class are labelled 'other' (default 0.997)")

    def run(args):
        from lessdask.model.training import train_model

        r = train_model(reference=args.reference, preset=args.preset, output=args.output, report_dir=args.report,
                        compare_base_models=args.compare_base_models, n_jobs=args.jobs,
                        envelope_quantile=args.envelope_quantile)
        for split, res in list(r["splits"].items()) + list(r.get("subsets", {}).items()):
            other = (f"; {100 * res['other_rate']:.2f}% called 'other' (outside the envelope of their class), "
                     f"{100 * res['accuracy_with_other']:.2f}% counting them wrong" if "other_rate" in res else "")
            print(f"{split}: accuracy {100 * res['accuracy']:.2f}% on {res['n']} atoms{other}")
            for c, v in res["per_class"].items():
                if v["support"] == 0:
                    continue
                other = f"  other {100 * v['other_rate']:5.2f}%" if "other_rate" in v else ""
                print(f"  {c:>6}: precision {100 * v['precision']:6.2f}%  recall {100 * v['recall']:6.2f}%{other}"
                      f"  (n={v['support']})")
        if "base_models" in r:
            print("base models alone (val_config): " + ", ".join(f"{k} {100 * v:.2f}%" for k,
                                                                 v in r["base_models"].items()))
        print(f"model: {args.output}; report and figures: {args.report}/")

    p.set_defaults(func=run)


@bench_command
def _add_bench_model(bench_sub) -> None:
    p = bench_sub.add_parser("model", help="inference speed of the fast preset (compiled and Booster.predict) and "
                             "the paper preset on a 1M-atom feature matrix, and worker start-up")
    p.add_argument("--atoms", type=int, default=1_000_000, help="atoms of the feature matrix")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions; medians are reported")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.model import bench_model

        _print_json(bench_model(n_atoms=args.atoms, repeat=args.repeat, json_path=args.json))

    p.set_defaults(func=run)


# ---- extension: extend | bench extension


@command
def _add_extend(sub) -> None:
    p = sub.add_parser("extend", help="teach a model a new structure class from a small fraction of new data")
    p.add_argument("model", help="model file, or 'default'")
    p.add_argument("data", nargs="+", help="reference .nc file(s) or trajectories of the new class")
    p.add_argument("--name", required=True, help="name of the new class, e.g. graphite")
    p.add_argument("-o", "--output", required=True, help="new model file")
    p.add_argument("--fraction", type=float, default=0.02, help="fraction of the new data used (default 0.02)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample of new data")
    p.add_argument("--retrain-existing", action="store_true",
                   help="refit every class model on the samples (the paper's scheme) instead of adding one")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--temperature", type=float, nargs="+", metavar="K",
                   help="temperature of each trajectory in DATA, in order (reference .nc files carry theirs): "
                        "data from one temperature get an envelope widened to hold the class at twice it "
                        "(default: none given)")

    def run(args):
        from lessdask.model.extension import extend

        _print_json(extend(args.model, args.name, args.data, args.output, fraction=args.fraction, seed=args.seed,
                           retrain_existing=args.retrain_existing, overwrite=args.overwrite,
                           temperatures=args.temperature))

    p.set_defaults(func=run)


@bench_command
def _add_bench_extension(bench_sub) -> None:
    p = bench_sub.add_parser("extension", help="graphite by extension vs full retrain: accuracy, time, data (Fig. 4)")
    p.add_argument("--figures", default="extension-figures", metavar="DIR", help="where to write the PNGs")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.extension import bench_extension

        _print_json(bench_extension(figures=args.figures, json_path=args.json))

    p.set_defaults(func=run)


# ---- pipeline: demo | classify | bench classify


@command
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="classify the bundled trajectory on an embedded cluster and print phase fractions")
    p.add_argument("-o", "--output", default="lessdask-demo.zarr", help="results store (default lessdask-demo.zarr)")
    p.add_argument("--png", metavar="PATH", default=None,
                   help="also draw the phase fractions into this image file (default: no figure)")
    _add_cluster_options(p)

    def run(args):
        from lessdask.demo import run_demo

        r = run_demo(output=args.output, cluster=_cluster_settings(args), png=args.png)
        s = r["summary"]
        print(f"classified {s['atoms']} atoms x {s['frames']} frames in {s['seconds']:.1f} s "
              f"({s['atom_frames_per_second']:.0f} atom-frames/s on {s['workers']} workers)")
        print("phase fractions:")
        print(r["fractions"].round(3).to_string())
        print(f"results: {s['output']}" + (f"   plot: {r['plot']}" if r["plot"] else ""))

    p.set_defaults(func=run)


@command
def _add_classify(sub) -> None:
    p = sub.add_parser("classify", help="label every atom of every frame and write a Zarr results store")
    p.add_argument("topology", help="topology (LAMMPS data, GRO, PDB, ...) or a LAMMPS dump / extended XYZ alone")
    p.add_argument("trajectory", nargs="*", help="trajectory files (DCD, XTC, TRR, LAMMPS dump, ...)")
    p.add_argument("-o", "--output", required=True, help="results store to write (a .zarr directory)")
    p.add_argument("-m", "--model", default="default", help="model file (default: the shipped default model)")
    p.add_argument("--model-digest", metavar="SHA256", default=None,
                   help="refuse any model whose content digest is not this one (pin the model you trust) "
                        "(default: no pin)")
    p.add_argument("--start", type=int, default=None, help="first frame (default: 0)")
    p.add_argument("--stop", type=int, default=None, help="stop before this frame (default: after the last)")
    p.add_argument("--step", type=_positive_int, default=None, help="every n-th frame (default: 1)")
    p.add_argument("--select", default=None, help="MDAnalysis selection of atoms to classify (default all)")
    p.add_argument("--atoms-per-chunk", type=_positive_int, default=None,
                   help="atoms per Zarr chunk (default: all atoms, at most 250,000)")
    p.add_argument("--frames-per-task", type=_positive_int, default=None,
                   help="frames per task and Zarr chunk (default: about a million atom-frames per task, "
                        "spread over the workers)")
    p.add_argument("--save-features", action="store_true",
                   help="also store the features (q_l and their neighbour averages)")
    p.add_argument("--save-positions", action="store_true", help="also store positions (for profiles/interfaces)")
    p.add_argument("--format", default=None,
                   help="trajectory format (MDAnalysis name, e.g. LAMMPSDUMP, XYZ; ASE: read with ASE, the ase extra) "
                        "(default: from the file name)")
    p.add_argument("--topology-format", default=None,
                   help="topology format (MDAnalysis name) (default: from the file name)")
    p.add_argument("--dt", type=float, default=None,
                   help="ps per step: for LAMMPS dumps (default 0.001) and formats that record no time, such as "
                        "XYZ or PDB (default 1)")
    p.add_argument("--no-pbc", action="store_true", help="free boundaries: ignore the box")
    p.add_argument("--no-other", action="store_true",
                   help="give every atom its most probable class, even outside the class's reference envelope "
                        "(by default such atoms - grain boundaries, surfaces, defects - are labelled 'other')")
    p.add_argument("--json", action="store_true",
                   help="print the run's summary as JSON (for scripts) instead of the human summary")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="finish an interrupted run (only missing chunks)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an existing results store (only a lessdask store; checked after the inputs)")
    _add_cluster_options(p)

    def run(args):
        from lessdask.pipeline import classify

        summary = classify(args.topology, args.trajectory, output=args.output, model=args.model,
                           start=args.start, stop=args.stop, step=args.step, select=args.select,
                           atoms_per_chunk=args.atoms_per_chunk, frames_per_task=args.frames_per_task,
                           save_features=args.save_features, save_positions=args.save_positions,
                           resume=args.resume, overwrite=args.overwrite, format=args.format,
                           topology_format=args.topology_format, dt=args.dt, pbc=not args.no_pbc,
                           other=not args.no_other, cluster=_cluster_settings(args),
                           model_digest=args.model_digest)
        if args.json:
            _print_json(summary)
        else:
            from lessdask.cli.reports import classify_report

            print(classify_report(summary))

    p.set_defaults(func=run)


@bench_command
def _add_bench_frames(bench_sub) -> None:
    p = bench_sub.add_parser("frames", help="cost per atom-frame and worker memory against frame size (1 worker)")
    p.add_argument("--small", type=int, default=1_000_000, help="atoms per small frame (default 1,000,000)")
    p.add_argument("--big", type=int, default=8_000_000, help="atoms per big frame (default 8,000,000)")
    p.add_argument("--memory", type=int, default=16_000_000,
                   help="atoms per frame of the peak-memory run (default 16,000,000; 0 skips it)")
    p.add_argument("--frames", type=int, default=4, help="frames of each timed trajectory (default 4)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per size; medians are reported (default 3)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.frames import bench_frames

        _print_json(bench_frames(small=args.small, big=args.big, memory=args.memory, frames=args.frames,
                                 repeat=args.repeat, json_path=args.json))

    p.set_defaults(func=run)


@bench_command
def _add_bench_classify(bench_sub) -> None:
    p = bench_sub.add_parser("classify", help="end-to-end throughput and memory of classify, 1 vs 2 workers")
    p.add_argument("--atoms", type=int, default=1_000_000, help="atoms per frame (default 1,000,000)")
    p.add_argument("--frames", type=int, default=10, help="frames (default 10)")
    p.add_argument("--long-frames", type=int, default=40, help="frames of the memory-flatness run (default 40)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.classify import bench_classify

        _print_json(bench_classify(n_atoms=args.atoms, n_frames=args.frames, long_frames=args.long_frames,
                                   json_path=args.json))

    p.set_defaults(func=run)


@bench_command
def _add_bench_input(bench_sub) -> None:
    p = bench_sub.add_parser("input", help="LAMMPS dump reading: lessdask's reader vs MDAnalysis', plain and .gz")
    p.add_argument("--atoms", type=int, default=1_000_000, help="atoms per frame (default 1,000,000)")
    p.add_argument("--frames", type=int, default=40, help="frames (default 40)")
    p.add_argument("--repeat", type=int, default=5, help="frames read per reader and file (medians reported)")
    p.add_argument("--workdir", metavar="DIR",
                   help="keep (and reuse) the generated trajectory here (default: a temporary folder)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.input import bench_input, input_report

        print(input_report(bench_input(n_atoms=args.atoms, n_frames=args.frames, repeat=args.repeat,
                                       workdir=args.workdir, json_path=args.json)))

    p.set_defaults(func=run)


@bench_command
def _add_bench_formats(bench_sub) -> None:
    p = bench_sub.add_parser("formats", help="classify end to end from DCD, LAMMPS dump and .gz dump of the same "
                                             "frames (1 worker, 1 thread): atom-frames/s and ratios to DCD")
    p.add_argument("--atoms", type=_positive_int, default=1_000_000, help="atoms per frame (default 1,000,000)")
    p.add_argument("--frames", type=_positive_int, default=8, help="frames (default 8)")
    p.add_argument("--repeat", type=_positive_int, default=3,
                   help="timed runs per format, interleaved; medians are reported (default 3)")
    p.add_argument("--workdir", metavar="DIR",
                   help="keep (and reuse) the generated trajectory here (default: a temporary folder)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (default: not written)")

    def run(args):
        from lessdask.bench.formats import bench_formats, formats_report

        print(formats_report(bench_formats(n_atoms=args.atoms, n_frames=args.frames, repeat=args.repeat,
                                           workdir=args.workdir, json_path=args.json)))

    p.set_defaults(func=run)


# ---- analysis: fractions | profile | interface


@command
def _add_fractions(sub) -> None:
    p = sub.add_parser("fractions", help="phase fractions over time from a results store (table, CSV, PNG)")
    p.add_argument("results", help="results store written by 'lessdask classify'")
    p.add_argument("--method", choices=["label", "probability"], default="label",
                   help="'label': share of atoms labelled with each class (-1 counted as 'other'); 'probability': "
                        "mean class probability over the atoms (a soft measure: every class keeps a small floor, "
                        "see docs/science.md)")
    p.add_argument("--classes", nargs="+", metavar="CLASS", default=None,
                   help="show only these classes; names or aliases (fcc, liquid, amorphous, diamond, rocksalt, "
                        "fluorite; any case) (default: all)")
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV (default: no CSV)")
    p.add_argument("--png", metavar="PATH", help="draw the time series (default RESULTS.fractions.png)")

    def run(args):
        from lessdask.cli.reports import fractions_report

        print(fractions_report(args.results, method=args.method, csv=args.csv, png=args.png, classes=args.classes))

    p.set_defaults(func=run)


@command
def _add_profile(sub) -> None:
    p = sub.add_parser("profile", help="layer profile of class probabilities and labels along x, y or z (PNG)")
    p.add_argument("results", help="results store written with --save-positions")
    p.add_argument("--axis", choices=["x", "y", "z"], default="z", help="direction of the profile (box axis)")
    p.add_argument("--bins", type=_positive_int, default=50, help="number of slabs along the axis")
    p.add_argument("--classes", nargs="+", metavar="CLASS", default=None,
                   help="show only these classes; names or aliases (fcc, liquid, diamond, ...; any case) "
                        "(default: all)")
    p.add_argument("--png", metavar="PATH", help="figure path (default RESULTS.profile-AXIS.png)")

    def run(args):
        from lessdask.cli.reports import profile_report

        print(profile_report(args.results, axis=args.axis, bins=args.bins, png=args.png, classes=args.classes))

    p.set_defaults(func=run)


@command
def _add_interface(sub) -> None:
    p = sub.add_parser("interface", help="position of the front between two classes over time, with its velocity")
    p.add_argument("results", help="results store written with --save-positions")
    p.add_argument("--axis", choices=["x", "y", "z"], default="z", help="direction normal to the fronts")
    p.add_argument("--between", nargs=2, default=["fcc", "AM"], metavar=("A", "B"),
                   help="the two classes the fronts separate; names or aliases (liquid, amorphous, diamond, "
                        "rocksalt, fluorite; any case)")
    p.add_argument("--bins", type=_positive_int, default=50, help="number of slabs along the axis")
    p.add_argument("--png", metavar="PATH", help="figure path (default RESULTS.interface.png)")

    def run(args):
        from lessdask.cli.reports import interface_report

        print(interface_report(args.results, axis=args.axis, between=tuple(args.between), bins=args.bins,
                               png=args.png))

    p.set_defaults(func=run)


@command
def _add_model(sub) -> None:
    p = sub.add_parser("model", help="describe a model: its classes with full names, feature settings, accuracy")
    msub = p.add_subparsers(dest="model_action", metavar="ACTION")
    msub.required = True
    i = msub.add_parser("info", help="list a model's classes with full names, its feature settings and the "
                                     "held-out accuracy stored with it")
    i.add_argument("model", nargs="?", default="default", help="model file, or 'default' (the shipped model)")
    i.add_argument("--json", action="store_true", help="print the description as JSON")

    def info(args):
        from lessdask.cli.reports import model_info_report
        from lessdask.model.info import model_info

        r = model_info(args.model)
        print(json.dumps(r, indent=2) if args.json else model_info_report(r))

    i.set_defaults(func=info)


@command
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write labels and probabilities as extended XYZ or LAMMPS dump (OVITO, VMD, ASE)",
                       description="Write the labels, class names and per-class probabilities of a results store as "
                                   "extended XYZ (.xyz, .extxyz) or LAMMPS dump (.lammpstrj, .dump, dump.*), "
                                   "optionally gzipped (.gz); colour atoms by 'label' in OVITO (Color coding).")
    p.add_argument("results", help="results store written by 'lessdask classify'")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="file to write; its name gives the format (.xyz/.extxyz or .lammpstrj/.dump, optional .gz)")
    p.add_argument("--frames", metavar="SPEC", default=None,
                   help="frames to write: N, N,M,..., START:STOP[:STEP] (frame numbers of the store) or 'last' "
                        "(default: all)")
    p.add_argument("--trajectory", nargs="+", metavar="FILE", default=None,
                   help="read positions from the input the store was classified from (topology first); "
                        "needed when the store has no positions (classified without --save-positions) "
                        "(default: the store's positions)")
    p.add_argument("--format", choices=["extxyz", "lammps-dump"], default=None,
                   help="file format (default: from the file name)")

    def run(args):
        from lessdask.analysis.export import export_labels, parse_frames

        r = export_labels(args.results, args.output, frames=parse_frames(args.frames), trajectory=args.trajectory,
                          format=args.format)
        n = len(r["frames"])
        print(f"wrote {r['output']} ({r['format']}): {n} frame{'s' if n != 1 else ''} x {r['atoms']} atoms, "
              f"positions from the {r['positions']}")
        print("label: " + ", ".join(f"{i} = {c}" for i, c in enumerate(r["classes"])) + ", -1 = other")
        if "types" in r:
            print("type: " + ", ".join(f"{t} = {s}" for s, t in r["types"].items()))

    p.set_defaults(func=run)


# ---- settings files: config


@command
def _add_config(sub) -> None:
    p = sub.add_parser("config", help="list or print the settings files shipped with lessdask (to copy and edit)")
    p.add_argument("action", choices=["list", "show"], help="list the names, or show one file")
    p.add_argument("name", nargs="?", help="with show: the file, e.g. cluster-slurm or features-paper")

    def run(args):
        from lessdask.configs import config_names, config_text
        from lessdask.errors import InputError

        if args.action == "list":
            print("\n".join(config_names()))
        elif not args.name:
            raise InputError("name the file to show, e.g. 'lessdask config show cluster-slurm'")
        else:
            print(config_text(args.name), end="")

    p.set_defaults(func=run)


# --------------------------------------------------------------------------- main


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default: " (default: X)" unless the help text already says it.

    Flags (``store_true``) and options whose default is None ("not given": their help says
    what happens then) get nothing added.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or not action.option_strings and action.nargs not in ("?", "*")):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def _set_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _set_formatter(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessdask",
        description="Label the crystal structure of every atom in every frame of an MD trajectory (LESS classifier "
                    "on Dask).",
    )
    parser.add_argument("--version", action="version", version=f"lessdask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    _set_formatter(parser)
    return parser


def _log_to_stderr() -> None:
    """Library messages (``logging``, logger ``lessdask``) as ``lessdask: ...`` lines on stderr."""
    logger = logging.getLogger("lessdask")
    if not any(getattr(h, "_lessdask_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("lessdask: %(message)s"))
        handler._lessdask_cli = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    _log_to_stderr()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LessdaskError as exc:
        print(f"lessdask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # lessdask.errors.Interrupted says what was kept and how to go on
        print(f"lessdask {args.command}: {exc or 'interrupted; rerun with --resume to finish'}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
