"""Base layer: the library's exception, the checks that raise it, and the package version."""

from ._errors import (CircuitsError, jsonable_seed, require, require_array, require_choice, require_float,
                      require_int, require_path)
from ._registry import Option, Registry, describe_registries
from ._storage import (arrays_digest, canonical, check_seal, check_target, digest, folder_writer, open_arrays,
                       open_json, read_bytes, read_table, regular_file, remove_stale, remove_stale_in, seal,
                       sealed_arrays, sealed_json, sibling, write_file, write_folder, write_table)
from ._resources import available_memory, choose_threads, free_cores, process_alive, usable_cores, using_threads

#: The package version (written into saved networks; ``circuits.__version__`` re-exports it).
__version__ = "0.2.0"

__all__ = ["arrays_digest", "canonical", "check_seal", "check_target", "digest", "folder_writer", "open_arrays",
           "open_json", "read_bytes", "read_table", "regular_file", "remove_stale", "remove_stale_in", "seal",
           "sealed_arrays", "sealed_json", "sibling", "write_file", "write_folder", "write_table",
           "Option", "Registry", "describe_registries", "jsonable_seed", "available_memory", "choose_threads", "free_cores", "process_alive", "usable_cores", "using_threads", "CircuitsError", "__version__", "require", "require_array", "require_choice", "require_float", "require_int", "require_path"]
