"""Errors lessdask raises for problems the user can fix.

Every message names the file, frame or atom concerned and says what to do. The CLI turns
these into a one-paragraph message and a non-zero exit code instead of a traceback.
"""


class LessdaskError(Exception):
    """Base class of errors caused by input the user can correct."""


class InputError(LessdaskError, ValueError):
    """A trajectory, topology, box, selection or species that cannot be used as given."""


class ModelFileError(LessdaskError):
    """A model file that is foreign, tampered with, unsafe or from an incompatible version."""


class StoreError(LessdaskError):
    """A results store that exists, is incomplete, or cannot be written."""


class ClusterError(LessdaskError):
    """A Dask scheduler or cluster that cannot be reached or started."""
