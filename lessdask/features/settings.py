"""Feature settings: the adaptive-cutoff parameters N and P and the Steinhardt l list."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: The paper's l values for the six Steinhardt parameters (features 1-6 and 7-12).
L_VALUES: tuple[int, ...] = (3, 4, 6, 8, 10, 12)


@dataclass(frozen=True)
class FeatureSettings:
    """How neighbours are chosen and which order parameters are computed.

    The cutoff of atom *i* is ``padding`` times the mean distance of its ``n_nearest``
    nearest neighbours (LESS paper, eq 2); every atom within that cutoff is a neighbour.

    Parameters
    ----------
    n_nearest : int
        N of eq 2. The default, 4, is the smallest first shell among the target structures
        (DC has 4 first neighbours, graphite 3), so the distances that set the cutoff are
        always first-neighbour distances.
    padding : float
        P of eq 2. With N = 4 the default 1.3 puts the cutoff at or just past the first
        minimum of the total g(r) of every reference crystal at 0.5 Tm: 12 neighbours in
        fcc and hcp, 4 in DC, 6 in NaCl, and 8 + 6 = 14 in bcc and CsCl, whose first and
        second shells merge at finite temperature (the conventional bcc neighbourhood);
        docs/science.md, "Choosing N and P", measured by ``jobs/cutoff_vs_gr.py``.
    l_values : tuple of int
        Orders of the Steinhardt parameters; six values give twelve features.
    max_cutoff : float
        Upper bound of the neighbour search (Å). Atoms with fewer than ``n_nearest``
        neighbours inside it (vacuum, isolated atoms) use what exists; none gives zeros.
    average : bool
        Also give each q_l averaged over the atom and its neighbours (inside the atom's own
        cutoff), doubling the features to 24. The average removes most of the thermal noise
        of single-atom q_l: it is what separates crystals near melting from their liquids
        (docs/science.md, "Neighbour-averaged features"). Model files from before this option have
        none, and load as ``average=False``.
    """

    n_nearest: int = 4
    padding: float = 1.3
    l_values: tuple[int, ...] = field(default=L_VALUES)
    max_cutoff: float = 10.0
    average: bool = True

    def __post_init__(self):
        object.__setattr__(self, "l_values", tuple(int(v) for v in self.l_values))
        if self.n_nearest < 1:
            raise ValueError(f"n_nearest must be at least 1, got {self.n_nearest}")
        if not self.padding > 0:
            raise ValueError(f"padding must be positive, got {self.padding}")
        if not self.max_cutoff > 0:
            raise ValueError(f"max_cutoff must be positive, got {self.max_cutoff}")
        if not self.l_values or min(self.l_values) < 0 or max(self.l_values) > 24:
            raise ValueError(f"l_values must be orders between 0 and 24, got {self.l_values}")

    @property
    def n_base_features(self) -> int:
        """Per-atom features: one per l over all neighbours, one per l over other species."""
        return 2 * len(self.l_values)

    @property
    def n_features(self) -> int:
        """Number of features: the per-atom ones, then their neighbour averages if ``average``."""
        return self.n_base_features * (2 if self.average else 1)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names: ``q3 ... q12``, ``q3_other ... q12_other``, then the same with ``_avg``."""
        base = tuple(f"q{l}" for l in self.l_values) + tuple(f"q{l}_other" for l in self.l_values)
        return base + (tuple(f"{name}_avg" for name in base) if self.average else ())

    def to_dict(self) -> dict:
        """Plain-JSON form, stored in model files and result stores."""
        d = asdict(self)
        d["l_values"] = list(self.l_values)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSettings:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {"n_nearest", "padding", "l_values", "max_cutoff", "average"}
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown feature settings {sorted(extra)}")
        return cls(**{"average": False, **d})  # written before the option existed: no averages


DEFAULT_SETTINGS = FeatureSettings()
FEATURE_NAMES = DEFAULT_SETTINGS.feature_names
