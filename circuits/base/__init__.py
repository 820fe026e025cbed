"""Base layer: the library's exception, the checks that raise it, and the package version."""

from ._errors import (CircuitsError, jsonable_seed, require, require_array, require_bool, require_choice,
                      require_float, require_int, require_path)
from ._registry import Option, Registry, describe_registries
from ._storage import (check_seal, check_target, digest, folder_writer, jsonable, open_arrays, open_json, read_bytes,
                       read_table, remove_stale_in, seal, sealed_arrays, sealed_json, write_file, write_folder,
                       write_table)
from ._lazy import lazy_module
from ._resources import (available_memory, choose_threads, free_cores, keep_freed_memory, usable_cores,
                         using_threads)

#: The package version (written into saved networks; ``circuits.__version__`` re-exports it).
__version__ = "0.2.0"

__all__ = ["__version__", "available_memory", "check_seal", "check_target", "choose_threads", "CircuitsError",
           "describe_registries", "digest", "folder_writer", "free_cores", "jsonable", "jsonable_seed", "keep_freed_memory",
           "lazy_module", "open_arrays", "open_json", "Option", "read_bytes", "read_table", "Registry",
           "remove_stale_in", "require", "require_array", "require_bool", "require_choice", "require_float",
           "require_int", "require_path", "seal", "sealed_arrays", "sealed_json", "usable_cores", "using_threads",
           "write_file", "write_folder", "write_table"]
