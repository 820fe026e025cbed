"""Construction layer: weight schemes, sparse kernels, the network and the builder.

Example:
    >>> from circuits.construction import WEIGHT_SCHEMES
    >>> list(WEIGHT_SCHEMES)
    ['capped', 'uncorrected', 'split', 'inhibited', 'gated']
"""

from ._builder import MAX_CHI_SCALE, assemble, build, check_width
from ._kernels import Touched
from ._network import LayerState, Network, NetworkConfig, check_device
from ._schemes import (MAX_GATE, MAX_INHIBITION, WEIGHT_SCHEMES, Capped, Gated, Inhibited, LayerWeights, SchemeKernel, WeightScheme, block_entries, circuit_pairs,
                       exact_chi, off_diagonal_pattern, pattern_and_excess, readout_correction, weight_scheme)

__all__ = ["MAX_CHI_SCALE", "MAX_GATE", "MAX_INHIBITION", "WEIGHT_SCHEMES", "Capped", "Gated", "Inhibited", "weight_scheme", "LayerState", "LayerWeights", "Network", "NetworkConfig", "SchemeKernel",
           "Touched", "WeightScheme", "assemble", "block_entries", "build", "check_device", "check_width",
           "circuit_pairs", "exact_chi", "off_diagonal_pattern", "pattern_and_excess", "readout_correction"]
