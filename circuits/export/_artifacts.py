"""Files others can read without this package: a network's plain weights and its ground truth's arrays.

``weights`` (:func:`save_plain_weights`, format ``circuits-plain-weights``, version
:data:`PLAIN_WEIGHTS_VERSION`): one safetensors file with ``layers.{l}.weight`` ``(D, D)`` and
``layers.{l}.bias`` ``(D,)`` float32 for network layers ``l = 1..L`` (the exported module's
state dict, :func:`circuits.to_module` with ``dense=True``) and, when asked,
``embedding.weight`` ``(D, T (1 + k))`` (:func:`circuits.export.feature_embedding`). The network
is ``x_l = ReLU(x_{l-1} @ W_l^T + b_l)`` from layer 0 ``x_0``; the header's ``__metadata__``
says so (``forward``), with ``width``, ``n_layers``, ``info`` (JSON: whatever the writer adds,
the zoo its spec and regime) and the seal of the storage module (``format``, ``format_version``,
``identity``: the network's fingerprint, ``sha256``). Plain torch reads it:
``safetensors.torch.load_file(path)``.

``truth`` (:func:`save_truth`, format ``circuits-truth``, version :data:`TRUTH_VERSION`): the
arrays of :meth:`circuits.GroundTruth.arrays`, sealed the same way and bound to the network's
fingerprint; :func:`load_truth` refuses a file that was edited, damaged, or moved from another
network's. Both are written atomically (``circuits/base/_storage.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import CircuitsError, check_target, open_arrays, require, require_path, sealed_arrays, write_file
from ..construction import Network
from ._ground_truth import GroundTruth
from ._module import feature_embedding, to_module

#: The ``format`` of a plain-weights file.
PLAIN_WEIGHTS_FORMAT = "circuits-plain-weights"
#: Its layout version.
PLAIN_WEIGHTS_VERSION = 2
#: The ``format`` of a ground-truth file.
TRUTH_FORMAT = "circuits-truth"
#: The ground-truth layout this version writes and reads.
TRUTH_VERSION = 3
#: What the plain-weights header says about the forward pass.
FORWARD_RULE = ("x_0 = layer 0 (the active circuits' first pre-activations, or embedding.weight @ features); "
                "x_l = relu(x_{l-1} @ layers.{l}.weight.T + layers.{l}.bias) for l = 1..n_layers")


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
    path = check_target(require_path("path", path), "path")
    blob = sealed_arrays(plain_weights(net, embedding=embedding), "plain-weights", PLAIN_WEIGHTS_VERSION,
                         {"network": net.fingerprint}, info,
                         header={"forward": FORWARD_RULE, "width": net.width, "n_layers": net.network_layers})
    try:
        write_file(path, blob)
    except OSError as err:
        raise CircuitsError(f"cannot write the weights to {path}: {err.strerror or err}", parameter="path") from err
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
    path = check_target(require_path("path", path), "path")
    blob = sealed_arrays(truth.arrays(), "truth", TRUTH_VERSION, {"network": truth.network.fingerprint}, info)
    try:
        write_file(path, blob)
    except OSError as err:
        raise CircuitsError(f"cannot write the ground truth to {path}: {err.strerror or err}",
                            parameter="path") from err
    return path


def load_truth(path, *, network: Network | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and info of a ground-truth file written by :func:`save_truth`, its seal checked.

    Args:
        path: the file.
        network: the network it must belong to (its fingerprint), or ``None``.

    Raises:
        CircuitsError: not a regular file, not safetensors, not a ground-truth file, of another version,
            damaged or edited, or another network's.
    """
    want = None if network is None else {"network": network.fingerprint}
    arrays, info, _ = open_arrays(require_path("path", path), "truth", TRUTH_VERSION, identity=want)
    return arrays, info
