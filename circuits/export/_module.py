"""The network as a plain torch module: each layer's weights as a sparse part plus a group broadcast.

Network layer ``l >= 2`` has the weight matrix (``circuits/construction/_schemes.py``)

    W[l] = sum_couplings block (x) e[l, receiver] e[l-1, sender]^T  +  the scheme's shared part

where the couplings are every circuit's own block and every cross-circuit edge's ``B / S``
(:meth:`circuits.Network.couplings_at`). :func:`layer_structure` writes it without going dense:
a sparse ``P`` (the coupling blocks on their slot pairs plus the scheme's sparse extra entries)
and a ``(d, D)`` broadcast ``R`` that every neuron of group ``i`` also reads. Layer 1 is the
identity. :func:`to_module` stacks the layers into an :class:`ExportedNetwork`.

Layout: neuron ``i N + n`` (``N = D/d``) is slot ``n`` of group ``i`` (small neuron ``i`` of every
circuit), the ``(B, D)`` form of the framework's ``(B, d, D/d)`` activations.

Hook points. Every activation the module computes passes through a named :class:`HookPoint` (an
``nn.Identity``), so forward hooks, :meth:`ExportedNetwork.run_with_cache` and tracing libraries
(nnsight) see it under a stable dotted name, the module path:

    hook_input             (B, D)  network layer 0, the module's input
    layers.{i}.hook_pre    (B, D)  pre-activation of network layer i + 1: W[i+1] x + b
    layers.{i}.hook_post   (B, D)  network layer i + 1 itself: ReLU of the pre-activation

for ``i = 0 .. L-1`` (``layers[i]`` is the Linear that computes network layer ``i + 1``;
:meth:`ExportedNetwork.hook_name` maps a network layer to its name). Hook points hold no
tensors, so the state dict is unchanged.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..base import CircuitsError, require, require_int
from ..construction import Network, block_entries, check_device, circuit_pairs

#: ``to_module(dense=None)`` uses dense weights up to this width D, sparse ones above.
DENSE_WIDTH = 4096
#: ``to_module(dense=True)`` is refused above this width (one float32 layer would exceed 1 GiB).
MAX_DENSE_WIDTH = 16384


def layer_structure(net: Network, layer: int) -> tuple[sp.csr_array, np.ndarray]:
    """``W[layer]`` as a sparse part ``P`` plus a group broadcast ``R``, without going dense.

    ``W[layer][i N + n, :] = P[i N + n, :] + R[i, :]``: every neuron of group ``i`` also receives
    ``R[i] @ A`` (the chi term of the capped scheme, the read-out correction of the others). ``P``
    holds every coupling (each circuit's own block and each cross-circuit edge, as
    :meth:`circuits.Network.couplings_at` gives them) on its slot pairs ``e[l, receiver]
    e[l-1, sender]^T``, plus the scheme's extra entries (capped: minus the own blocks' shared
    part where pairs are covered more than once); duplicates are summed, zeros dropped.

    Args:
        net: the network.
        layer: network layer 1..``net.network_layers`` (layer 1 is the identity).

    Returns:
        ``P``: ``(D, D)`` float64 CSR with sorted indices and at most ``d^2 C S^2`` entries plus
        the extra ones (``C = T + E``: the circuits and the edges at this layer); ``R``:
        ``(d, D)`` float64.

    Example:
        >>> from circuits import build, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> p, r = layer_structure(net, 2)
        >>> p.shape, r.shape
        ((160, 160), (4, 160))
        >>> bool(np.abs(dense_from_structure(p, r) - net.dense_weights(2)[0]).max() < 1e-12)
        True
    """
    layer = require_int("layer", layer, 1, net.network_layers)
    N, d = net.n_slots, net.circuit_width
    D = d * N
    if layer == 1:
        return sp.csr_array(sp.identity(D, dtype=np.float64, format="csr")), np.zeros((d, D))
    sets = net.assignment.sets
    receiver, sender, block = net.couplings_at(layer)
    rows, cols = circuit_pairs(sets[layer][receiver], sets[layer - 1][sender])
    own_rows, own_cols, own_vals = block_entries(rows, cols, block, N)
    extra_rows, extra_cols, extra_vals, broadcast = net.scheme.extra_entries(net.layer_weights(layer))
    p = sp.coo_array((np.concatenate([own_vals, np.asarray(extra_vals, dtype=np.float64)]),
                      (np.concatenate([own_rows, extra_rows]).astype(np.int64),
                       np.concatenate([own_cols, extra_cols]).astype(np.int64))), shape=(D, D)).tocsr()
    p.sum_duplicates()
    p.eliminate_zeros()
    p.sort_indices()
    return p, np.asarray(broadcast, dtype=np.float64)


def dense_from_structure(p: sp.csr_array, broadcast: np.ndarray) -> np.ndarray:
    """The dense ``(D, D)`` matrix ``P + R`` broadcast over each group's rows (see :func:`layer_structure`).

    Args:
        p: ``(D, D)`` sparse part.
        broadcast: ``(d, D)`` the row every neuron of group ``i`` adds (``D/d`` rows per group).
    """
    n_slots = p.shape[0] // broadcast.shape[0]
    return p.toarray() + np.repeat(broadcast, n_slots, axis=0)


class SparseLinear(nn.Module):
    """A sparse Linear layer: ``y = P x + b`` plus, for every neuron of group ``i``, ``R[i] @ x``.

    ``P`` is stored as the three CSR tensors ``crow_indices`` ``(D + 1,)``, ``col_indices``
    ``(nnz,)`` and ``values`` ``(nnz,)``, ``R`` as ``broadcast`` ``(d, D)`` and the bias as
    ``bias`` ``(D,)``: buffers, so the state dict holds plain dense tensors and nothing is trained.

    Args:
        p: ``(D, D)`` CSR sparse part (:func:`layer_structure`).
        broadcast: ``(d, D)`` group broadcast.
        bias: ``(D,)`` bias.
        dtype: ``torch.float32`` or ``torch.float64``.
        device: torch device.
    """

    def __init__(self, p: sp.csr_array, broadcast: np.ndarray, bias: np.ndarray, *, dtype, device):
        super().__init__()
        self.width = p.shape[0]
        self.n_groups = broadcast.shape[0]
        self.register_buffer("crow_indices", torch.as_tensor(p.indptr, dtype=torch.int64, device=device))
        self.register_buffer("col_indices", torch.as_tensor(p.indices, dtype=torch.int64, device=device))
        self.register_buffer("values", torch.as_tensor(p.data, dtype=dtype, device=device))
        self.register_buffer("broadcast", torch.as_tensor(broadcast, dtype=dtype, device=device))
        self.register_buffer("bias", torch.as_tensor(bias, dtype=dtype, device=device))

    def sparse_weight(self) -> torch.Tensor:
        """``P`` as a ``(D, D)`` sparse CSR tensor."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow_indices, self.col_indices, self.values,
                                           size=(self.width, self.width), check_invariants=False)

    def dense_weight(self) -> torch.Tensor:
        """The full ``(D, D)`` weight ``P + R`` (costs ``D^2`` memory)."""
        n_slots = self.width // self.n_groups
        return self.sparse_weight().to_dense() + self.broadcast.repeat_interleave(n_slots, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` pre-activations of ``(B, D)`` inputs."""
        B = x.shape[0]
        y = (self.sparse_weight() @ x.T).T
        shared = x @ self.broadcast.T  # (B, d)
        y = (y.reshape(B, self.n_groups, -1) + shared[:, :, None]).reshape(B, self.width)
        return y + self.bias

    def extra_repr(self) -> str:
        return f"width={self.width}, nnz={self.values.numel()}, groups={self.n_groups}"


class HookPoint(nn.Identity):
    """A named point of the forward pass: returns its input unchanged.

    It exists so that forward hooks (``register_forward_hook``), :meth:`ExportedNetwork.run_with_cache`
    and tracing libraries such as nnsight can read (or replace) the activation that passes through
    it under the module path's name (see the module docstring). No parameters, no buffers.
    """


#: The kinds of hook point of a computed layer: its pre-activation and its activation.
HOOK_KINDS = ("pre", "post")


class ExportedNetwork(nn.Module):
    """The constructed network as a plain module: layers ``x <- ReLU(layer(x))``, every activation named.

    ``layers[l - 1]`` maps network layer ``l - 1`` to the pre-activations of layer ``l``
    (``l = 1..net.network_layers``): an ``nn.Linear`` (dense) or a :class:`SparseLinear`; all
    weights are frozen (no gradients). Each layer carries two :class:`HookPoint` children,
    ``hook_pre`` (its pre-activation) and ``hook_post`` (its activation), and the module a
    ``hook_input`` (layer 0); see the module docstring for the names.

    Args:
        layers: the layers, in order.
        width: D.
        circuit_width: d.

    Input: ``(B, D)`` layer 0 (see :meth:`circuits.export.GroundTruth.encode`). ``forward``
    returns the last layer ``(B, D)``; :meth:`activations` returns every layer;
    :meth:`run_with_cache` returns the output and every named activation.

    Example:
        >>> import torch
        >>> from circuits import build, rotation_circuits, to_module
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> module = to_module(net)
        >>> names = list(module.hook_points())
        >>> len(names), names[:3], names[-1]
        (7, ['hook_input', 'layers.0.hook_pre', 'layers.0.hook_post'], 'layers.2.hook_post')
        >>> module.hook_name(3), module.hook_name(3, "pre"), module.hook_name(0)
        ('layers.2.hook_post', 'layers.2.hook_pre', 'hook_input')
        >>> out, cache = module.run_with_cache(torch.zeros(2, 160))
        >>> cache["layers.2.hook_post"].shape, torch.equal(cache["layers.2.hook_post"], out)
        (torch.Size([2, 160]), True)
    """

    def __init__(self, layers: list[nn.Module], *, width: int, circuit_width: int):
        super().__init__()
        self.hook_input = HookPoint()
        for layer in layers:
            layer.hook_pre = HookPoint()
            layer.hook_post = HookPoint()
        self.layers = nn.ModuleList(layers)
        self.width = width
        self.circuit_width = circuit_width

    def hook_points(self) -> dict[str, HookPoint]:
        """Every :class:`HookPoint` by name, in the order the forward pass reaches them."""
        return {name: module for name, module in self.named_modules() if isinstance(module, HookPoint)}

    def hook_name(self, layer: int, kind: str = "post") -> str:
        """The name of network layer ``layer``'s activation (``kind="post"``) or pre-activation (``"pre"``).

        Args:
            layer: network layer 0..L (layer 0, the input, has only ``"post"``: ``hook_input``).
            kind: ``"post"`` or ``"pre"``.
        """
        layer = require_int("layer", layer, 0, len(self.layers))
        require(kind in HOOK_KINDS, f"kind must be one of {', '.join(HOOK_KINDS)}, got {kind!r}", parameter="kind")
        if layer == 0:
            require(kind == "post", "layer 0 is the input: it has no pre-activation", parameter="kind")
            return "hook_input"
        return f"layers.{layer - 1}.hook_{kind}"

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Layers ``0..L`` as ``(B, D)`` tensors (entry 0 is ``x`` itself; ``L = len(layers)``)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.width:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise CircuitsError(f"input must have shape (B, {self.width}), got {shape}", parameter="x")
        out = [self.hook_input(x)]
        for layer in self.layers:
            pre = layer.hook_pre(layer(out[-1]))
            out.append(layer.hook_post(torch.relu(pre)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer ``(B, D)`` of ``(B, D)`` inputs."""
        return self.activations(x)[-1]

    def run_with_cache(self, x: torch.Tensor, *, names=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run the module and keep the activations that pass its hook points.

        Args:
            x: ``(B, D)`` input (layer 0).
            names: which hook points to keep: ``None`` (all), an iterable of names, or a function
                ``name -> bool``.

        Returns:
            ``(out, cache)``: the last layer ``(B, D)`` and ``{name: (B, D) tensor}`` in forward
            order, detached from any autograd graph.

        Raises:
            CircuitsError: a name that is not a hook point, or an input of the wrong shape.
        """
        points = self.hook_points()
        if names is None:
            keep = list(points)
        elif callable(names):
            keep = [name for name in points if names(name)]
        else:
            keep = [names] if isinstance(names, str) else list(names)
            unknown = [name for name in keep if name not in points]
            if unknown:
                raise CircuitsError(f"names must be hook points of this module ({', '.join(list(points)[:3])}, ...); "
                                    f"got {unknown[0]!r}", parameter="names")
        cache: dict[str, torch.Tensor] = {}
        handles = [points[name].register_forward_hook(
            lambda _module, _inputs, output, name=name: cache.__setitem__(name, output.detach())) for name in keep]
        try:
            out = self(x)
        finally:
            for handle in handles:
                handle.remove()
        return out, {name: cache[name] for name in points if name in cache}


def to_module(net: Network, *, dense: bool | None = None, dtype: torch.dtype = torch.float32,
              device: str | None = None) -> ExportedNetwork:
    """The network as a plain ``torch.nn.Module`` whose forward equals ``net.forward``.

    Args:
        net: the network.
        dense: ``nn.Linear`` layers with the full ``(D, D)`` weight (``True``), or
            :class:`SparseLinear` layers built from :func:`layer_structure` (``False``);
            ``None``: dense when ``D <= 4096``. Dense is refused above ``D = 16384``.
        dtype: ``torch.float32`` (as the framework) or ``torch.float64``.
        device: torch device of the module (default: the network's).

    Returns:
        :class:`ExportedNetwork` with ``net.network_layers`` layers (``2L - 1`` with clean-up
        layers); its state dict holds dense tensors only. Cross-circuit edges are part of the
        weights like everything else.

    Example:
        >>> from circuits import build, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> module = to_module(net)
        >>> len(module.layers), type(module.layers[0]).__name__
        (3, 'Linear')
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    D = net.width
    if dense is None:
        dense = D <= DENSE_WIDTH
    require(isinstance(dense, (bool, np.bool_)), f"dense must be True, False or None, got {dense!r}",
            parameter="dense")
    require(not dense or D <= MAX_DENSE_WIDTH,
            f"dense weights need width <= {MAX_DENSE_WIDTH}, got {D}: use dense=False", parameter="dense")
    require(dtype in (torch.float32, torch.float64), f"dtype must be torch.float32 or torch.float64, got {dtype}",
            parameter="dtype")
    device = net.device if device is None else check_device(device)
    biases = [np.repeat(net.layer_bias(layer), net.n_slots) for layer in range(1, net.network_layers + 1)]
    layers = []
    for layer in range(1, net.network_layers + 1):
        p, broadcast = layer_structure(net, layer)
        if dense:
            linear = nn.utils.skip_init(nn.Linear, D, D, dtype=dtype, device=device)
            with torch.no_grad():
                linear.weight.copy_(torch.as_tensor(dense_from_structure(p, broadcast), dtype=dtype))
                linear.bias.copy_(torch.as_tensor(biases[layer - 1], dtype=dtype))
            linear.requires_grad_(False)
            layers.append(linear)
        else:
            layers.append(SparseLinear(p, broadcast, biases[layer - 1], dtype=dtype, device=device))
    return ExportedNetwork(layers, width=D, circuit_width=net.circuit_width)
