"""Construction layer: weight schemes, sparse kernels, the network and the builder.

Example:
    >>> from circuits.construction import WEIGHT_SCHEMES
    >>> list(WEIGHT_SCHEMES)
    ['capped', 'uncorrected', 'split', 'inhibited', 'gated']
"""

from ._builder import MAX_CHI_SCALE, assemble, check_width, construct
from ._network import Network, NetworkConfig, check_device
from ._schemes import WEIGHT_SCHEMES, WeightScheme, block_entries, circuit_pairs, weight_scheme

__all__ = ["assemble", "block_entries", "check_device", "check_width", "circuit_pairs", "construct", "MAX_CHI_SCALE",
           "Network", "NetworkConfig", "weight_scheme", "WEIGHT_SCHEMES", "WeightScheme"]
