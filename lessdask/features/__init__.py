"""Feature engine: Steinhardt bond-orientational order parameters with the LESS adaptive cutoff.

One public entry, :func:`compute_features`: positions, box, species -> (n, 24) float32
(q_l over all and other-species neighbours, then their neighbour averages).
"""

from lessdask.features.box import box_matrix
from lessdask.features.engine import compute_features, species_codes
from lessdask.features.settings import DEFAULT_SETTINGS, FEATURE_NAMES, L_VALUES, FeatureSettings

__all__ = [
    "compute_features", "FeatureSettings", "FEATURE_NAMES", "L_VALUES", "DEFAULT_SETTINGS",
    "box_matrix", "species_codes",
]
