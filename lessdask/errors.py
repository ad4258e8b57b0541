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


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; what it wrote is kept for ``--resume``.

    A ``KeyboardInterrupt`` so that no ``except Exception`` on the way swallows it. The CLI
    prints the message and exits with :attr:`exit_code` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """``128 + signal number``, as a shell reports a process killed by that signal."""
        return 128 + self.signum
