"""Storage: how every artefact of the library is written and read back.

One module for networks, ground truth, data sets, sweep and scaling parts, result tables and the
zoo, so that they all keep the same promises:

- **Atomic**: a file is written to a sibling ``.NAME.writing-<pid>-<hex>`` and renamed into place
  (:func:`write_file`); a folder is written into such a sibling folder and swapped in, in one step
  where Linux allows (``renameat2(RENAME_EXCHANGE)``), else by moving the old one aside first
  (:func:`write_folder`). A reader never sees half of one; a failed write leaves the old one whole.
- **Debris**: what a writer that is no longer running left beside a target (its ``writing`` and
  ``replaced`` siblings) is removed by the next writer of that target (:func:`remove_stale`); the
  writer's process id in the name tells a dead writer's debris from a live one's.
- **Sealed and bound to an identity**: every artefact carries a *seal*: its ``format``
  (``circuits-<kind>``: network, truth, data set, part, index, ...), its ``format_version``, its
  ``identity`` (what it belongs to: the network's fingerprint, the task's spec) and the SHA-256 of
  all of that together with its content (:func:`seal`). Reading checks all four
  (:func:`check_seal`): a file that was edited, damaged, moved or swapped with another artefact of
  the same kind is refused naming the file.
- **What is there**: a path where a file is expected must be a regular file; FIFOs, devices,
  sockets, folders and symbolic-link loops are refused by what they are, before anything opens them
  (:func:`regular_file`), so a reader never hangs on a pipe.

Containers: JSON documents (:func:`sealed_json`, :func:`open_json`), safetensors files whose header
metadata holds the seal (:func:`sealed_arrays`, :func:`open_arrays`) and Parquet tables whose schema
metadata holds it (:func:`write_table`, :func:`read_table`); a saved network seals its own two files
the same way (``circuits/export/_saving.py``).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = write_file(folder / "part.json", sealed_json("part", 1, {"task": "a"}, {"x": 1}).encode())
    >>> open_json(path, "part", 1, identity={"task": "a"})
    {'x': 1}
    >>> open_json(path, "part", 1, identity={"task": "b"})
    Traceback (most recent call last):
    ...
    circuits.CircuitsError: ... belongs to another part (its identity differs: task 'a', not 'b'); it was moved or swapped...
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from ._errors import CircuitsError, require
from ._resources import process_alive

#: Every format name starts with this.
FORMAT_PREFIX = "circuits-"
#: The tags of a writer's siblings (``.NAME.<tag>-<pid>-<hex>``).
_TAGS = ("writing", "replaced")


# ============================================================================ identity and seals
def canonical(value) -> bytes:
    """The canonical JSON bytes of ``value`` (sorted keys, no spaces, ASCII, no NaN): what a seal hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def digest(*parts) -> str:
    """SHA-256 (hex) over ``parts``: bytes as they are, arrays as name-free ``dtype shape bytes``, anything else
    as its canonical JSON; each part preceded by a separator, so that no two sequences collide."""
    h = hashlib.sha256()
    for part in parts:
        h.update(b"\n--\n")
        if isinstance(part, (bytes, bytearray, memoryview)):
            h.update(part)
        elif isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str} {a.shape}\n".encode())
            h.update(a.tobytes())
        else:
            h.update(canonical(part))
    return h.hexdigest()


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\n{name} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def seal(kind: str, version: int, identity: Mapping, *content) -> dict:
    """The seal of an artefact: ``format``, ``format_version``, ``identity`` and the ``sha256`` over those three
    and ``content`` (bytes, arrays or JSON-able values, see :func:`digest`)."""
    head = {"format": FORMAT_PREFIX + kind, "format_version": int(version), "identity": jsonable(identity)}
    return {**head, "sha256": digest(head, *content)}


def check_seal(found: Mapping, *content, path, kind: str, versions, identity: Mapping | None = None,
               parameter: str = "path") -> dict:
    """Check an artefact's seal against what the reader expects; returns the seal's identity.

    Args:
        found: the seal read from the file (``format``, ``format_version``, ``identity``, ``sha256``).
        content: the content as read (what :func:`seal` was given).
        path: the file (named in refusals).
        kind: the kind expected (``"network"``, ``"truth"``, ...).
        versions: the format versions this reader takes (an int or several).
        identity: what the artefact must belong to (``None``: anything); compared key by key.
        parameter: the parameter refusals name.

    Raises:
        CircuitsError: another kind of file, another format version, a checksum that does not match
            (edited or damaged), or another identity (moved or swapped), naming the file.
    """
    versions = (versions,) if isinstance(versions, int) else tuple(versions)
    fmt = found.get("format") if isinstance(found, Mapping) else None
    require(fmt == FORMAT_PREFIX + kind, f"{path} is not a circuits {kind} file (its format is {fmt!r})",
            parameter=parameter)
    version = found.get("format_version")
    require(version in versions, f"{path} has {kind} format version {version!r}; this version of circuits reads "
                                 f"{', '.join(map(str, versions))} (write it again)", parameter=parameter)
    require(isinstance(found.get("sha256"), str), f"corrupt {kind} file: {path} lacks its \"sha256\" checksum",
            parameter=parameter)
    head = {"format": fmt, "format_version": version, "identity": found.get("identity")}
    try:
        ok = found.get("sha256") == digest(head, *content)
    except (TypeError, ValueError):
        ok = False
    require(ok, f"corrupt or edited {kind} file: the SHA-256 checksum of {path} does not match its seal (an edited "
                "field or a damaged file); refusing to read it", parameter=parameter)
    have = found.get("identity")
    if identity is not None:
        want = jsonable(identity)
        wrong = _first_difference(have, want)
        require(wrong is None, f"{path} belongs to another {kind} (its identity differs: {wrong}); it was moved or "
                               "swapped: remove it or write it again", parameter=parameter)
    return have


def _first_difference(have, want) -> str | None:
    """``None`` when ``have`` equals ``want``, else a short description of the first key that differs."""
    if have == want:
        return None
    if isinstance(have, dict) and isinstance(want, dict):
        for key in sorted(set(have) | set(want)):
            if have.get(key) != want.get(key):
                return f"{key} {_short(have.get(key))}, not {_short(want.get(key))}"
    return f"{_short(have)}, not {_short(want)}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def jsonable(value):
    """``value`` after one JSON round trip (numpy scalars as numbers, tuples as lists; NaN and infinities refused).

    Example:
        >>> jsonable({"n": np.int64(3), "shape": (2, 4)})
        {'n': 3, 'shape': [2, 4]}
    """
    def default(o):
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        return str(o)
    return json.loads(json.dumps(value, default=default, allow_nan=False))


# ============================================================================ what is at a path
def regular_file(path, parameter: str = "path", *, what: str = "file") -> Path:
    """``path`` if it names a regular file (through symbolic links); refused by what it is otherwise.

    Uses ``stat`` only (nothing is opened), so a FIFO, a device or a symbolic-link loop is refused at
    once instead of blocking or failing later.

    Example:
        >>> regular_file("/dev/null")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: path /dev/null is a character device, not a regular file
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        linked = os.path.islink(path)
        raise CircuitsError(f"{parameter} {path} is " + ("a dangling symbolic link" if linked else "missing")
                            + f" (expected a {what})", parameter=parameter) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise CircuitsError(f"{parameter} {path} is a symbolic-link loop, not a {what}",
                                parameter=parameter) from None
        raise CircuitsError(f"{parameter} {path} cannot be inspected: {err.strerror}", parameter=parameter) from None
    require(stat.S_ISREG(info.st_mode), f"{parameter} {path} is {_kind_of(info.st_mode)}, not a regular {what}",
            parameter=parameter)
    return path


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def read_bytes(path, parameter: str = "path", *, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (:func:`regular_file`); OS errors as :class:`CircuitsError`."""
    path = regular_file(path, parameter, what=what)
    try:
        return path.read_bytes()
    except OSError as err:
        raise CircuitsError(f"{parameter} {path} cannot be read: {err.strerror or err}", parameter=parameter) from err


def check_target(path, parameter: str = "path", *, folder: bool = False) -> Path:
    """Refuse a target that cannot be written: a symbolic-link loop, a dangling symbolic link (writing through it
    would create a file wherever it points), or (for a file) a folder or a special file; (for a folder) a file or
    a special file. An absent target is fine.

    Example:
        >>> check_target("/dev/null")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: path /dev/null is a character device, not a file
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise CircuitsError(f"{parameter} {path} is a dangling symbolic link (to {os.readlink(path)}); remove it "
                                "or name the file itself", parameter=parameter) from None
        return path
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise CircuitsError(f"{parameter} {path} is a symbolic-link loop", parameter=parameter) from None
        raise CircuitsError(f"{parameter} {path} cannot be inspected: {err.strerror}", parameter=parameter) from None
    if folder:
        kind = "a file" if stat.S_ISREG(info.st_mode) else _kind_of(info.st_mode)
        require(stat.S_ISDIR(info.st_mode), f"{parameter} {path} is {kind}, not a folder", parameter=parameter)
    else:
        require(stat.S_ISREG(info.st_mode), f"{parameter} {path} is {_kind_of(info.st_mode)}, not a file",
                parameter=parameter)
    return path


# ============================================================================ writing
def sibling(path: Path, tag: str) -> Path:
    """A name beside ``path`` that nothing uses yet: ``.NAME.<tag>-<pid>-<hex>``."""
    while True:
        candidate = path.parent / f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"
        if not os.path.lexists(candidate):
            return candidate


def _writer_of(name: str, target: str) -> tuple[str, int] | None:
    """``(tag, pid)`` when ``name`` is a writer's sibling of ``target``, else ``None``."""
    prefix = f".{target}."
    if not name.startswith(prefix):
        return None
    tag, _, rest = name[len(prefix):].partition("-")
    pid = rest.split("-")[0]
    if tag not in _TAGS or not pid.isdigit():
        return None
    return tag, int(pid)


def remove_stale(path) -> list[str]:
    """Remove what writers of ``path`` that are no longer running left beside it; a live writer's siblings stay.

    A writer killed after moving an old folder aside and before moving the new one in leaves ``path``
    absent: the old one is put back.

    Returns:
        the names removed or put back.
    """
    path = Path(path)
    done = []
    try:
        entries = sorted(path.parent.iterdir())
    except OSError:
        return done
    for entry in entries:
        writer = _writer_of(entry.name, path.name)
        if writer is None or process_alive(writer[1]):
            continue
        try:
            if writer[0] == "replaced" and not os.path.lexists(path):
                os.rename(entry, path)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            done.append(entry.name)
        except OSError:
            continue
    return done


def remove_stale_in(folder) -> list[str]:
    """Remove every dead writer's sibling inside ``folder`` (whatever its target)."""
    done = []
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError:
        return done
    for entry in entries:
        name = entry.name
        if not name.startswith("."):
            continue
        target = next((t for tag in _TAGS for t in [name[1:].rsplit(f".{tag}-", 1)[0]]
                       if f".{tag}-" in name), None)
        if target is None:
            continue
        writer = _writer_of(name, target)
        if writer is None or process_alive(writer[1]):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            done.append(name)
    return done


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``path`` and flush it to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path, data: bytes | Callable[[Path], None]) -> Path:
    """Write ``data`` (bytes, or a function that writes the file it is given) to ``path``, atomically.

    The content goes to a sibling ``.NAME.writing-<pid>-<hex>``, is flushed to disk and renamed over
    ``path``; on any failure the sibling is removed and ``path`` is as it was. A symbolic link at ``path``
    is written through (the file it names is replaced); a folder, a special file, a dangling link or a link
    loop at ``path`` is refused (:func:`check_target`). Dead writers' debris beside ``path`` is removed first.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    path = Path(path)
    check_target(path)
    real = Path(os.path.realpath(path)) if os.path.islink(path) else path
    real.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(real)
    tmp = sibling(real, "writing")
    try:
        if callable(data):
            data(tmp)
            _fsync_file(tmp)
        else:
            _write_bytes(tmp, data)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_folder(real.parent)
    return path


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None


_LIBC = _libc()


def _exchange(a: Path, b: Path) -> bool:
    """Swap the entries ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where the
    system cannot (the caller then moves the old one aside first)."""
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def folder_writer(path) -> Iterator[Path]:
    """Write a folder atomically: yields a fresh sibling folder to fill; when the block ends without an error it
    is swapped in for ``path`` (an old ``path`` is removed only once the new one is in place); on an error the
    fresh folder is removed and ``path`` is as it was. A symbolic link at ``path`` is written through.
    """
    path = Path(os.path.realpath(path))
    require(path.name != "", f"path must name a folder, got {path}", parameter="path")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    while True:
        fresh = sibling(path, "writing")
        try:
            os.mkdir(fresh)
            break
        except FileExistsError:
            continue
    try:
        yield fresh
        if not os.path.lexists(path):
            os.rename(fresh, path)
        elif _exchange(fresh, path):  # fresh now holds the old folder
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            aside = sibling(path, "replaced")
            os.rename(path, aside)
            try:
                os.rename(fresh, path)
            except BaseException:
                os.rename(aside, path)
                raise
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    _sync_folder(path.parent)


def write_folder(path, files: Mapping[str, bytes]) -> Path:
    """Write the files ``{name: bytes}`` as the folder ``path``, atomically (:func:`folder_writer`)."""
    with folder_writer(path) as fresh:
        for name, data in files.items():
            _write_bytes(fresh / name, data)
    return Path(path)


# ============================================================================ containers
def sealed_json(kind: str, version: int, identity: Mapping, content) -> str:
    """A JSON document holding ``content`` under its seal (:func:`seal`), as text."""
    content = jsonable(content)
    return json.dumps({**seal(kind, version, identity, content), "content": content}, indent=2, allow_nan=False) + "\n"


def open_json(path, kind: str, versions, *, identity: Mapping | None = None, parameter: str = "path"):
    """The content of a document :func:`sealed_json` wrote, after checking its seal (:func:`check_seal`).

    Raises:
        CircuitsError: not a regular file, not JSON, or a seal that does not hold, naming the file.
    """
    text = read_bytes(path, parameter)
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CircuitsError(f"corrupt {kind} file: {path} is not JSON ({err})", parameter=parameter) from None
    require(isinstance(doc, dict) and "content" in doc, f"{path} is not a circuits {kind} file", parameter=parameter)
    check_seal(doc, doc["content"], path=path, kind=kind, versions=versions, identity=identity, parameter=parameter)
    return doc["content"]


def sealed_arrays(arrays: Mapping[str, np.ndarray], kind: str, version: int, identity: Mapping,
                  info: Mapping | None = None, header: Mapping[str, str] | None = None) -> bytes:
    """A safetensors file's bytes: ``arrays``, with the seal and ``info`` in the header's metadata.

    ``header`` adds plain-text entries to the metadata for readers without this package (covered by the
    seal too)."""
    from safetensors.numpy import save as st_save

    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    info = jsonable(dict(info or {}))
    header = {str(k): str(v) for k, v in (header or {}).items()}
    sealed = seal(kind, version, identity, info, header, arrays_digest(arrays))
    metadata = {**header, "format": sealed["format"], "format_version": str(sealed["format_version"]),
                "identity": json.dumps(sealed["identity"], sort_keys=True), "info": json.dumps(info, sort_keys=True),
                "sha256": sealed["sha256"]}
    return st_save(arrays, metadata=metadata)


def open_arrays(path, kind: str, versions, *, identity: Mapping | None = None,
                parameter: str = "path") -> tuple[dict, dict, dict]:
    """``(arrays, info, identity)`` of a file :func:`sealed_arrays` wrote, after checking its seal.

    Raises:
        CircuitsError: not a regular file, not a safetensors file, or a seal that does not hold, naming the file.
    """
    from safetensors.numpy import load as st_load

    blob = read_bytes(path, parameter)
    try:
        arrays = st_load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        metadata = json.loads(blob[8:8 + header_len]).get("__metadata__") or {}
        found = {"format": metadata.get("format"), "sha256": metadata.get("sha256"),
                 "format_version": int(metadata["format_version"]) if "format_version" in metadata else None,
                 "identity": json.loads(metadata.get("identity", "null"))}
        info = json.loads(metadata.get("info", "{}"))
        header = {k: v for k, v in metadata.items() if k not in _SEALED_KEYS}
    except Exception as err:  # noqa: BLE001 - safetensors and json raise their own error types
        raise CircuitsError(f"{path} is not a circuits {kind} file (not a readable safetensors file: {err})",
                            parameter=parameter) from None
    have = check_seal(found, info, header, arrays_digest(arrays), path=path, kind=kind, versions=versions,
                      identity=identity, parameter=parameter)
    return arrays, info, have


#: The metadata keys :func:`sealed_arrays` writes itself (the rest is the plain-text header).
_SEALED_KEYS = ("format", "format_version", "identity", "info", "sha256")


_TABLE_KEY = b"circuits.seal"


def write_table(frame, path, kind: str, version: int, identity: Mapping) -> Path:
    """Write a pandas frame as Parquet (page checksums on), sealed in the schema's metadata, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sealed = seal(kind, version, identity, frame.to_csv(index=False))
    metadata = {**(table.schema.metadata or {}), _TABLE_KEY: json.dumps(sealed).encode()}
    return write_file(path, lambda p: pq.write_table(table.replace_schema_metadata(metadata), p,
                                                     write_page_checksum=True))


def read_table(path, kind: str, versions, *, identity: Mapping | None = None, parameter: str = "path"):
    """The frame :func:`write_table` wrote, after checking its seal (page checksums and SHA-256).

    Raises:
        CircuitsError: not a regular file, not a readable Parquet table, or a seal that does not hold.
    """
    import pyarrow.parquet as pq

    regular_file(path, parameter)
    try:
        table = pq.read_table(path, page_checksum_verification=True)
        frame = table.to_pandas()
        found = json.loads((table.schema.metadata or {})[_TABLE_KEY])
    except Exception as err:  # noqa: BLE001 - pyarrow's errors for a damaged file are many
        raise CircuitsError(f"corrupt {kind} file: {path} is not a readable circuits table ({err})",
                            parameter=parameter) from None
    check_seal(found, frame.to_csv(index=False), path=path, kind=kind, versions=versions, identity=identity,
               parameter=parameter)
    return frame
