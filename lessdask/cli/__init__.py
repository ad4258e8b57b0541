"""The ``lessdask`` command line: a thin shell over the Python API (:mod:`lessdask.cli.main`)."""

from lessdask.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
