"""Files others can read without this package: a network's plain weights and its ground truth's arrays.

``weights`` (:func:`save_plain_weights`, format ``circuits-plain-weights``, version
:data:`PLAIN_WEIGHTS_VERSION`): one safetensors file with ``layers.{l}.weight`` ``(D, D)`` and
``layers.{l}.bias`` ``(D,)`` float32 for network layers ``l = 1..L`` (the exported module's
state dict, :func:`circuits.to_module` with ``dense=True``) and, when asked,
``embedding.weight`` ``(D, T (1 + k))`` (:func:`circuits.export.feature_embedding`). The network
is ``x_l = ReLU(x_{l-1} @ W_l^T + b_l)`` from layer 0 ``x_0``; the header's ``__metadata__``
says so (``forward``), with ``format``, ``format_version``, ``width``, ``n_layers`` and ``info``
(JSON: whatever the writer adds, the zoo its spec and regime). Plain torch reads it:
``safetensors.torch.load_file(path)``.

``truth`` (:func:`save_truth`, format ``circuits-truth``, version :data:`TRUTH_VERSION`): the
arrays of :meth:`circuits.GroundTruth.arrays`, with ``__metadata__`` ``format``,
``format_version``, ``info`` (JSON) and ``sha256`` (over ``info`` and every array's name, dtype,
shape and bytes, as data sets have it); :func:`load_truth` refuses a file whose checksum does not
match. Version 1 (the zoo's first files) had no version, info or checksum.

Every file goes through one small private writer per kind (:func:`_write_weights_file`,
:func:`_write_truth_file`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load as st_load, save as st_save

from ..base import CircuitsError, require
from ..construction import Network
from ._dataset import _digest
from ._ground_truth import GroundTruth
from ._module import feature_embedding, to_module

#: The ``format`` of a plain-weights file.
PLAIN_WEIGHTS_FORMAT = "circuits-plain-weights"
#: Its layout version.
PLAIN_WEIGHTS_VERSION = 1
#: The ``format`` of a ground-truth file.
TRUTH_FORMAT = "circuits-truth"
#: The ground-truth layout this version writes and reads.
TRUTH_VERSION = 2
#: What the plain-weights header says about the forward pass.
FORWARD_RULE = ("x_0 = layer 0 (the active circuits' first pre-activations, or embedding.weight @ features); "
                "x_l = relu(x_{l-1} @ layers.{l}.weight.T + layers.{l}.bias) for l = 1..n_layers")


def _write_weights_file(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write a plain-weights safetensors file (the one writer of this kind)."""
    path.write_bytes(st_save(arrays, metadata=metadata))


def _write_truth_file(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write a ground-truth safetensors file (the one writer of this kind)."""
    path.write_bytes(st_save(arrays, metadata=metadata))


def plain_weights(net: Network, *, embedding: bool = False) -> dict[str, np.ndarray]:
    """``{"layers.{l}.weight": (D, D), "layers.{l}.bias": (D,)}`` float32 for ``l = 1..L`` (and
    ``"embedding.weight"`` ``(D, T (1 + k))`` with ``embedding``), the dense module's state dict."""
    module = to_module(net, dense=True, device="cpu")
    out = {name: tensor.numpy() for name, tensor in module.state_dict().items()}
    if embedding:
        out["embedding.weight"] = feature_embedding(net).toarray().astype(np.float32)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def save_plain_weights(net: Network, path, *, info: dict | None = None, embedding: bool = False) -> Path:
    """Write the network's weights as one plain safetensors file (see the module docstring).

    Args:
        net: the network.
        path: the file.
        info: JSON-able extras for the header.
        embedding: also the sparse-feature embedding.

    Example:
        >>> import tempfile
        >>> import torch
        >>> from safetensors.torch import load_file
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> folder = tempfile.TemporaryDirectory()
        >>> weights = load_file(save_plain_weights(net, folder.name + "/weights.safetensors"))  # plain torch from here
        >>> x = ground_truth(net).encode([[3, 17]], [[[1.0, 0.0], [0.0, 1.0]]])
        >>> for l in range(1, 4):
        ...     x = torch.relu(x @ weights[f"layers.{l}.weight"].T + weights[f"layers.{l}.bias"])
        >>> bool(torch.allclose(x, net.forward([[3, 17]], net.system.encode([[[1.0, 0.0], [0.0, 1.0]]], (1, 2)))[3]
        ...                    .reshape(1, 160), atol=1e-5))
        True
        >>> folder.cleanup()
    """
    path = Path(path)
    arrays = plain_weights(net, embedding=embedding)
    metadata = {"format": PLAIN_WEIGHTS_FORMAT, "format_version": str(PLAIN_WEIGHTS_VERSION),
                "forward": FORWARD_RULE, "width": str(net.width), "n_layers": str(net.network_layers),
                "info": json.dumps(info or {}, sort_keys=True, allow_nan=False)}
    try:
        _write_weights_file(path, arrays, metadata)
    except OSError as err:
        raise CircuitsError(f"cannot write the weights to {path}: {err}", parameter="path") from err
    return path


def save_truth(truth: GroundTruth, path, *, info: dict | None = None) -> Path:
    """Write :meth:`circuits.GroundTruth.arrays` as a versioned, checksummed safetensors file.

    Args:
        truth: the ground truth.
        path: the file.
        info: JSON-able extras for the header (the zoo: the entry's name).
    """
    require(isinstance(truth, GroundTruth), f"truth must be a circuits.GroundTruth, got {type(truth).__name__}",
            parameter="truth")
    path = Path(path)
    arrays = truth.arrays()
    text = json.dumps(info or {}, sort_keys=True, allow_nan=False)
    metadata = {"format": TRUTH_FORMAT, "format_version": str(TRUTH_VERSION), "info": text,
                "sha256": _digest(arrays, text)}
    try:
        _write_truth_file(path, arrays, metadata)
    except OSError as err:
        raise CircuitsError(f"cannot write the ground truth to {path}: {err}", parameter="path") from err
    return path


def load_truth(path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and info of a ground-truth file written by :func:`save_truth`, checked.

    Raises:
        CircuitsError: missing, not safetensors, not a ground-truth file, of another version, or
            damaged or edited (checksum mismatch).
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise CircuitsError(f"cannot read the ground truth {path}: {err}", parameter="path") from err
    try:
        arrays = st_load(blob)
        metadata = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")]).get("__metadata__") or {}
    except Exception as err:  # safetensors raises its own error types
        raise CircuitsError(f"{path} is not a safetensors file: {err}", parameter="path") from err
    require(metadata.get("format") == TRUTH_FORMAT, f"{path} is not a ground-truth file (format "
                                                    f"{metadata.get('format')!r})", parameter="path")
    version = metadata.get("format_version")
    require(version == str(TRUTH_VERSION), f"{path} has ground-truth format version {version}; this version reads "
                                           f"{TRUTH_VERSION}", parameter="path")
    require(metadata.get("sha256") == _digest(arrays, metadata.get("info", "")),
            f"corrupt or edited ground truth: the SHA-256 checksum of {path}'s arrays and info does not match the "
            "one in its header; refusing to load it", parameter="path")
    return arrays, json.loads(metadata["info"])
