"""The ``lessdask`` command line: a thin shell over the Python API.

Each sub-command parses its arguments, makes exactly one call into the library and
prints what it returns. Errors the user can fix (:class:`lessdask.errors.LessdaskError`)
are printed as one message with exit code 2, never as a traceback.

Each room owns its own ``_add_<command>`` function below; keep logic out of this file.
"""

from __future__ import annotations

import argparse
import json
import sys

from lessdask import __version__
from lessdask.errors import LessdaskError


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where it runs (default: an embedded LocalCluster)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--scheduler-file", metavar="PATH", help="scheduler file written by 'dask scheduler --scheduler-file'")
    g.add_argument("--cluster", metavar="KIND", help="start workers with dask-jobqueue: slurm, pbs, sge, lsf, ...")
    g.add_argument("--cluster-config", metavar="YAML", help="cluster profile (see configs/cluster-*.yaml)")
    g.add_argument("--jobs", type=int, default=None, help="with --cluster: number of batch jobs to scale to")
    g.add_argument("--workers", type=int, default=None, help="embedded cluster: worker processes (default: one per core)")


def _cluster_settings(args: argparse.Namespace) -> dict:
    return {
        "scheduler": args.scheduler,
        "scheduler_file": args.scheduler_file,
        "cluster": args.cluster,
        "cluster_config": args.cluster_config,
        "jobs": args.jobs,
        "n_workers": args.workers,
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
# callable taking the parsed namespace; it imports its room lazily so that
# ``lessdask --help`` stays fast. Sections are owned by the room named in their comment.

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


# ---- features room: bench features (lessdask/bench/features.py)

# ---- reference room: reference build | reference plot

# ---- model room: train | bench model

# ---- extension (model room): extend

# ---- pipeline room: demo | classify | bench classify

# ---- analysis room: fractions | profile | interface


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessdask",
        description="Label the crystal structure of every atom in every frame of an MD trajectory (LESS classifier on Dask).",
    )
    parser.add_argument("--version", action="version", version=f"lessdask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LessdaskError as exc:
        print(f"lessdask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lessdask {args.command}: interrupted; rerun with --resume to finish", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
