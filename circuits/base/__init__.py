"""Base layer: the library's exception, the checks that raise it, and the package version."""

from ._errors import (CircuitsError, jsonable_seed, require, require_array, require_choice, require_float,
                      require_int, require_path)
from ._registry import Option, Registry, describe_registries
from ._resources import available_memory, choose_threads, free_cores, process_alive, usable_cores, using_threads

#: The package version (written into saved networks; ``circuits.__version__`` re-exports it).
__version__ = "0.2.0"

__all__ = ["Option", "Registry", "describe_registries", "jsonable_seed", "available_memory", "choose_threads", "free_cores", "process_alive", "usable_cores", "using_threads", "CircuitsError", "__version__", "require", "require_array", "require_choice", "require_float", "require_int", "require_path"]
