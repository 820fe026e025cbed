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

Numbering. ``module.layers[l]`` computes network layer ``l``, for ``l = 0 .. L``: ``layers[0]``
produces layer 0 (the identity on the ``(B, D)`` input, or the embedding of the sparse-feature
input, :func:`feature_embedding`), ``layers[l]`` (``l >= 1``) is the Linear with ``W[l]`` and the
bias of layer ``l``. So the state dict's ``layers.{l}.weight`` is ``W[l]``, exactly as the ground
truth numbers it (``truth.contribution(t, l)`` is a share of it).

Hook points. Every activation the module computes passes through a named :class:`HookPoint` (an
``nn.Identity``), so forward hooks, :meth:`ExportedNetwork.run_with_hooks`,
:meth:`ExportedNetwork.run_with_cache` and tracing libraries (nnsight) see it under a stable
dotted name, the module path, numbered like the network's layers:

    layers.0.hook_post     (B, D)  network layer 0, the first pre-activations (the module's input
                                   itself, or the embedding of the feature input)
    layers.{l}.hook_pre    (B, D)  pre-activation of network layer l: W[l] x + b       (l = 1..L)
    layers.{l}.hook_post   (B, D)  network layer l itself: ReLU of the pre-activation  (l = 1..L)

(:meth:`ExportedNetwork.hook_name` gives them). Hook points hold no tensors, so the state dict
is unchanged.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..base import CircuitsError, available_memory, lazy_module, require, require_bool, require_int
from ..construction import Network, block_entries, check_device, circuit_pairs

sp = lazy_module("scipy.sparse")

#: ``to_module(dense=None)`` uses dense weights up to this width D, sparse ones above.
DENSE_WIDTH = 4096
#: The dense layers of ``to_module`` may take at most this fraction of the memory available.
DENSE_MEMORY_FRACTION = 0.5


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
        y = (y.reshape(B, self.n_groups, self.width // self.n_groups) + shared[:, :, None]).reshape(B, self.width)
        return y + self.bias

    def extra_repr(self) -> str:
        return f"width={self.width}, nnz={self.values.numel()}, groups={self.n_groups}"


class HookPoint(nn.Identity):
    """A named point of the forward pass: returns its input unchanged.

    It exists so that forward hooks (``register_forward_hook``), :meth:`ExportedNetwork.run_with_hooks`,
    :meth:`ExportedNetwork.run_with_cache` and tracing libraries such as nnsight can read (or replace)
    the activation that passes through it under the module path's name (see the module docstring),
    which :attr:`name` holds. No parameters, no buffers.
    """

    def __init__(self):
        super().__init__()
        self.name: str | None = None


#: The kinds of hook point of a computed layer: its pre-activation and its activation.
HOOK_KINDS = ("pre", "post")


def hook_name(layer: int, kind: str = "post") -> str:
    """The hook point of network layer ``layer``: ``layers.{layer}.hook_{kind}`` (no range check)."""
    return f"layers.{int(layer)}.hook_{kind}"


class ActivationCache(Mapping):
    """The activations one forward pass left at the hook points: ``{name: (B, D) tensor}``, in forward order.

    A read-only mapping from hook names to detached tensors; ``cache["post", l]`` (or
    ``cache.layer(l)``) is ``cache["layers.{l}.hook_post"]`` and ``cache["pre", l]`` the
    pre-activation, so code can address layers by their network number.

    Example:
        >>> import torch
        >>> cache = ActivationCache({"layers.2.hook_post": torch.ones(1, 3)})
        >>> cache["post", 2].shape, list(cache), "layers.2.hook_post" in cache
        (torch.Size([1, 3]), ['layers.2.hook_post'], True)
    """

    def __init__(self, activations: dict[str, torch.Tensor]):
        self._activations = dict(activations)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, tuple):
            require(len(key) == 2 and key[0] in HOOK_KINDS, f"a cache key must be a hook name or (kind, layer) with "
                                                            f"kind in {HOOK_KINDS}, got {key!r}", parameter="key")
            key = hook_name(key[1], key[0])
        if key not in self._activations:
            raise KeyError(f"{key!r} is not in this cache (it holds {', '.join(list(self._activations)[:4])}"
                           f"{', ...' if len(self._activations) > 4 else ''})")
        return self._activations[key]

    def __iter__(self):
        return iter(self._activations)

    def __len__(self) -> int:
        return len(self._activations)

    def layer(self, layer: int, kind: str = "post") -> torch.Tensor:
        """The activation (``kind="post"``) or pre-activation (``"pre"``) of network layer ``layer``."""
        return self[kind, layer]

    def to(self, device) -> "ActivationCache":
        """The same cache with every tensor moved to ``device``."""
        return ActivationCache({k: v.to(device) for k, v in self._activations.items()})

    def __repr__(self) -> str:
        return f"ActivationCache({list(self._activations)})"


class InputLayer(nn.Module):
    """Network layer 0 from the module's ``(B, D)`` input: the identity (the input is layer 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ExportedNetwork(nn.Module):
    """The constructed network as a plain module: layers ``x <- ReLU(layer(x))``, every activation named.

    ``layers[l]`` computes network layer ``l`` (``l = 0..L``, ``L = net.network_layers``):
    ``layers[0]`` layer 0 from the module's input (an :class:`InputLayer`, the identity on
    ``(B, D)``, or an ``nn.Linear`` embedding of the ``(B, T (1 + k))`` feature input:
    :func:`feature_embedding`); ``layers[l]``, ``l >= 1``, the pre-activations of layer ``l``
    from layer ``l - 1``: an ``nn.Linear`` (dense) or a :class:`SparseLinear`. All weights are
    frozen (no gradients). ``layers[0]`` carries a :class:`HookPoint` ``hook_post`` (layer 0),
    every other layer two, ``hook_pre`` and ``hook_post``; see the module docstring for the names.

    Args:
        layers: the L + 1 layers, in order.
        width: D.
        circuit_width: d.

    Input: ``(B, input_width)``, layer 0 (see :meth:`circuits.export.GroundTruth.encode`) or the
    feature input (:meth:`circuits.export.GroundTruth.encode_features`). ``forward`` returns the
    last layer ``(B, D)``; :meth:`activations` returns every layer; :meth:`run_with_cache` returns
    the output and the named activations; :meth:`run_with_hooks` runs with hook functions in place.

    Example:
        >>> import torch
        >>> from circuits import build, rotation_circuits, to_module
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> module = to_module(net)
        >>> names = list(module.hook_points())
        >>> len(names), names[:3], names[-1]
        (7, ['layers.0.hook_post', 'layers.1.hook_pre', 'layers.1.hook_post'], 'layers.3.hook_post')
        >>> module.hook_name(3), module.hook_name(3, "pre"), module.hook_name(0)
        ('layers.3.hook_post', 'layers.3.hook_pre', 'layers.0.hook_post')
        >>> out, cache = module.run_with_cache(torch.zeros(2, 160), names_filter=lambda name: name.endswith("post"))
        >>> cache["post", 3].shape, torch.equal(cache["layers.3.hook_post"], out), len(cache)
        (torch.Size([2, 160]), True, 4)
        >>> zero = lambda activation, hook: torch.zeros_like(activation)   # ablate layer 2
        >>> float(module.run_with_hooks(torch.ones(2, 160), fwd_hooks=[("layers.2.hook_post", zero)]).max())
        0.0
    """

    def __init__(self, layers: list[nn.Module], *, width: int, circuit_width: int):
        super().__init__()
        require(len(layers) >= 2, "an exported network needs layer 0 and at least one computed layer",
                parameter="layers")
        layers[0].hook_post = HookPoint()
        for layer in layers[1:]:
            layer.hook_pre = HookPoint()
            layer.hook_post = HookPoint()
        self.layers = nn.ModuleList(layers)
        self.width = width
        self.circuit_width = circuit_width
        self.input_width = int(getattr(layers[0], "in_features", width))
        for name, point in self.hook_points().items():
            point.name = name

    @property
    def n_layers(self) -> int:
        """L, the number of computed network layers (``len(layers) - 1``)."""
        return len(self.layers) - 1

    def hook_points(self) -> dict[str, HookPoint]:
        """Every :class:`HookPoint` by name, in the order the forward pass reaches them."""
        return {name: module for name, module in self.named_modules() if isinstance(module, HookPoint)}

    def hook_name(self, layer: int, kind: str = "post") -> str:
        """The name of network layer ``layer``'s activation (``kind="post"``) or pre-activation (``"pre"``).

        Args:
            layer: network layer 0..L (layer 0, the input, has only ``"post"``).
            kind: ``"post"`` or ``"pre"``.
        """
        layer = require_int("layer", layer, 0, self.n_layers)
        require(kind in HOOK_KINDS, f"kind must be one of {', '.join(HOOK_KINDS)}, got {kind!r}", parameter="kind")
        require(layer > 0 or kind == "post", "layer 0 holds the first pre-activations: it has only a 'post' hook",
                parameter="kind")
        return hook_name(layer, kind)

    def activations(self, x: torch.Tensor, *, until: int | None = None) -> list[torch.Tensor]:
        """Layers ``0..until`` (default ``0..L``) as ``(B, D)`` tensors; layers past ``until`` are not computed.

        Args:
            x: ``(B, input_width)`` input.
            until: the last network layer to compute, 0..L.
        """
        self._check_input(x)
        last = self.n_layers if until is None else require_int("until", until, 0, self.n_layers)
        first = self.layers[0]
        out = [first.hook_post(first(x))]
        for layer in self.layers[1:last + 1]:
            pre = layer.hook_pre(layer(out[-1]))
            out.append(layer.hook_post(torch.relu(pre)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer ``(B, D)`` of ``(B, input_width)`` inputs."""
        return self.activations(x)[-1]

    def _check_input(self, x) -> None:
        """Refuse an input the layers cannot take: not a ``(B, input_width)`` tensor, another dtype than the
        module's weights (float64, integers, half, complex, bool), or another device (``meta`` among them)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.input_width:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise CircuitsError(f"input must have shape (B, {self.input_width}), got {shape}", parameter="x")
        layer = self.layers[1]
        weights = next(t for t in (*layer.parameters(), *layer.buffers()) if t.is_floating_point())
        require(x.dtype == weights.dtype, f"x must be a {weights.dtype} tensor (the module's dtype), got {x.dtype}; "
                                          f"convert it with x.to({weights.dtype})", parameter="x")
        require(x.device == weights.device, f"x must be on the module's device {weights.device}, got {x.device}",
                parameter="x")

    def _select(self, names_filter) -> list[str]:
        """The hook names ``names_filter`` picks: ``None`` (all), a name, names, or a function ``name -> bool``."""
        points = self.hook_points()
        if names_filter is None:
            return list(points)
        if callable(names_filter):
            return [name for name in points if names_filter(name)]
        require(isinstance(names_filter, (str, list, tuple, set, frozenset)) and
                (isinstance(names_filter, str) or all(isinstance(name, str) for name in names_filter)),
                f"names_filter must be None, a hook name, a list of hook names or a function name -> bool, got "
                f"{names_filter!r}", parameter="names_filter")
        chosen = [names_filter] if isinstance(names_filter, str) else list(names_filter)
        unknown = [name for name in chosen if name not in points]
        if unknown:
            raise CircuitsError(f"names_filter must name hook points of this module ({', '.join(list(points)[:3])}, "
                                f"...) or be a function of the name; got {unknown[0]!r}", parameter="names_filter")
        return chosen

    @contextlib.contextmanager
    def hooks(self, fwd_hooks=()):
        """A block with hook functions in place (removed on exit, also on error).

        Args:
            fwd_hooks: pairs ``(names, fn)``: ``names`` a hook name, a list of names or a function
                ``name -> bool``; ``fn(activation, hook)`` gets the ``(B, D)`` tensor and the
                :class:`HookPoint` (``hook.name``) and returns a replacement tensor, or ``None`` to
                leave it as it is.
        """
        handles = []
        try:
            for item in fwd_hooks:
                require(isinstance(item, tuple) and len(item) == 2 and callable(item[1]),
                        f"fwd_hooks must be pairs (names, fn), got {item!r}", parameter="fwd_hooks")
                names, fn = item
                points = self.hook_points()
                for name in self._select(names):
                    handles.append(points[name].register_forward_hook(
                        lambda module, _inputs, output, fn=fn: fn(output, module)))
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def run_with_hooks(self, x: torch.Tensor, *, fwd_hooks=()) -> torch.Tensor:
        """The last layer ``(B, D)`` with hook functions in place for this one pass (see :meth:`hooks`)."""
        with self.hooks(fwd_hooks):
            return self(x)

    def run_with_cache(self, x: torch.Tensor, *, names_filter=None, fwd_hooks=()) -> tuple[torch.Tensor,
                                                                                              ActivationCache]:
        """Run the module and keep the activations that pass its hook points.

        Args:
            x: ``(B, input_width)`` input.
            names_filter: which hook points to keep: ``None`` (all), a name, an iterable of names,
                or a function ``name -> bool``.
            fwd_hooks: hook functions in place during the pass (see :meth:`hooks`); the cache holds
                what they return.

        Returns:
            ``(out, cache)``: the last layer ``(B, D)`` and an :class:`ActivationCache`
            ``{name: (B, D) tensor}`` in forward order, detached from any autograd graph.

        Raises:
            CircuitsError: a name that is not a hook point, or an input of the wrong shape.
        """
        keep = set(self._select(names_filter))
        store: dict[str, torch.Tensor] = {}
        record = (lambda activation, hook: store.__setitem__(hook.name, activation.detach()))
        with self.hooks(list(fwd_hooks) + [(sorted(keep), record)]):
            out = self(x)
        return out, ActivationCache({name: store[name] for name in self.hook_points() if name in store})


def _affine_encode(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The family's encode as ``a[0] = o + p M``: ``o`` ``(d,)`` (on, zero payload) and ``M`` ``(k, d)``."""
    system = net.system
    k = system.payload_dim
    offset = np.asarray(system.encode(np.zeros((1, k)), (1,)), dtype=np.float64)[0]
    if not k:
        return offset, np.zeros((0, offset.size))
    matrix = np.asarray(system.encode(np.eye(k), (k,)), dtype=np.float64).reshape(k, -1) - offset
    probe = np.random.default_rng(0).uniform(-2.0, 2.0, (8, k))
    ok = np.allclose(np.asarray(system.encode(probe, (8,)), dtype=np.float64), offset + probe @ matrix,
                     rtol=1e-9, atol=1e-9)
    require(ok, f"the feature input needs a system whose encode is affine in the payload; {system.name!r}'s is not",
            parameter="feature_input")
    return offset, matrix


def feature_embedding(net: Network) -> sp.csr_array:
    """The embedding ``E`` of the sparse-feature input: layer 0 ``= E f`` for features ``f`` ``(T (1 + k),)``.

    The feature input gives every circuit ``t`` a slot of ``1 + k`` entries, ``f[t (1+k)]`` its
    on-indicator (1 active, 0 not) and ``f[t (1+k) + 1 + j]`` its payload (0 when inactive), like
    the toy models of parameter-decomposition work (a sparse input embedded into the network).
    Column ``t (1+k)`` of ``E`` is ``w_t[1] o`` and column ``t (1+k) + 1 + j`` is ``w_t[1] M[j]``
    placed in circuit ``t``'s layer-0 neurons, where ``a[0] = o + p M`` is the family's (affine)
    encode; so ``E f`` equals :meth:`circuits.export.GroundTruth.encode` of the same circuits and
    payloads (to float round-off). The on-indicator is an input of its own because a payload does
    not say whether its circuit is on.

    Args:
        net: the network (its family's encode must be affine; every registered system's is).

    Returns:
        ``(D, T (1 + k))`` float64 CSR, at most ``d S`` entries per column.

    Example:
        >>> from circuits import build, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> feature_embedding(net).shape
        (160, 120)
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    offset, matrix = _affine_encode(net)
    T, d, N, S, k = net.n_circuits, net.circuit_width, net.n_slots, net.redundancy, net.system.payload_dim
    mean, diff = net.system.layer_weights(1)
    first = mean + diff  # (T, d, d) w_t[1]
    columns = np.concatenate([offset[None], matrix], axis=0)  # (1 + k, d)
    values = np.einsum("tij,cj->tci", first, columns)  # (T, 1 + k, d)
    sets = net.assignment.sets[0].astype(np.int64)  # (T, S)
    rows = np.arange(d)[None, None, :, None] * N + sets[:, None, None, :]  # (T, 1, d, S)
    rows = np.broadcast_to(rows, (T, 1 + k, d, S))
    cols = np.broadcast_to((np.arange(T)[:, None] * (1 + k) + np.arange(1 + k))[:, :, None, None], rows.shape)
    vals = np.broadcast_to(values[..., None], rows.shape)
    out = sp.coo_array((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(d * N, T * (1 + k))).tocsr()
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def _dense_layer(p: sp.csr_array, broadcast: np.ndarray, bias: np.ndarray, *, dtype, device) -> nn.Linear:
    """An ``nn.Linear`` holding ``P + R`` (summed in float64 a block of rows at a time, then rounded)."""
    D = p.shape[0]
    n_slots = D // broadcast.shape[0]
    linear = nn.utils.skip_init(nn.Linear, D, D, dtype=dtype, device=device)
    rows = max(1, min(D, (1 << 25) // max(1, D)))  # float64 rows per block: about 256 MiB
    with torch.no_grad():
        for lo in range(0, D, rows):
            hi = min(D, lo + rows)
            block = p[lo:hi].toarray() + broadcast[np.arange(lo, hi) // n_slots]
            linear.weight[lo:hi].copy_(torch.as_tensor(block, dtype=dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=dtype))
    linear.requires_grad_(False)
    return linear


def to_module(net: Network, *, dense: bool | None = None, dtype: torch.dtype = torch.float32,
              device: str | None = None, feature_input: bool = False) -> ExportedNetwork:
    """The network as a plain ``torch.nn.Module`` whose forward equals ``net.forward``.

    Args:
        net: the network.
        dense: ``nn.Linear`` layers with the full ``(D, D)`` weight (``True``), or
            :class:`SparseLinear` layers built from :func:`layer_structure` (``False``);
            ``None``: dense when ``D <= 4096``. Dense works at any width whose ``L`` weight
            matrices fit in half the memory available (checked before anything is built).
        dtype: ``torch.float32`` (as the framework) or ``torch.float64``.
        device: torch device of the module (default: the network's).
        feature_input: take the sparse-feature input ``(B, T (1 + k))`` (each circuit's
            on-indicator and payload, :meth:`circuits.export.GroundTruth.encode_features`) through
            an ``nn.Linear`` embedding ``layers[0]`` (:func:`feature_embedding`, no bias), instead
            of layer 0 itself.

    Returns:
        :class:`ExportedNetwork` with ``net.network_layers + 1`` layers (layer 0 and the computed
        ones; ``2L - 1`` computed layers with clean-up layers); its state dict holds dense tensors
        only, ``layers.{l}.weight`` being ``W[l]``. Cross-circuit edges are part of the weights
        like everything else.

    Example:
        >>> from circuits import build, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> module = to_module(net)
        >>> len(module.layers), type(module.layers[0]).__name__, type(module.layers[1]).__name__
        (4, 'InputLayer', 'Linear')
        >>> to_module(net, feature_input=True).layers[0]    # 40 circuits x (on-indicator + 2 payload entries)
        Linear(
          in_features=120, out_features=160, bias=False
          (hook_post): HookPoint()
        )
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    D, L = net.width, net.network_layers
    if dense is None:
        dense = D <= DENSE_WIDTH
    require(isinstance(dense, (bool, np.bool_)), f"dense must be True, False or None, got {dense!r}",
            parameter="dense")
    feature_input = require_bool("feature_input", feature_input)
    require(dtype in (torch.float32, torch.float64), f"dtype must be torch.float32 or torch.float64, got {dtype}",
            parameter="dtype")
    device = net.device if device is None else check_device(device)
    size = torch.tensor([], dtype=dtype).element_size()
    n_features = net.n_circuits * (1 + net.system.payload_dim)
    need = size * (L * D * D * bool(dense) + D * n_features * bool(feature_input))
    free = DENSE_MEMORY_FRACTION * available_memory()
    require(need <= free, f"the dense weights need {need / 2**30:.3g} GiB, more than half the {2 * free / 2**30:.3g} "
                          f"GiB available here; use dense=False" + (" and no feature_input" if feature_input else ""),
            parameter="dense" if dense else "feature_input")
    if feature_input:
        first = nn.utils.skip_init(nn.Linear, n_features, D, bias=False, dtype=dtype, device=device)
        with torch.no_grad():
            first.weight.copy_(torch.as_tensor(feature_embedding(net).toarray(), dtype=dtype))
        first.requires_grad_(False)
    else:
        first = InputLayer()
    layers: list[nn.Module] = [first]
    for layer in range(1, L + 1):
        p, broadcast = layer_structure(net, layer)
        bias = np.repeat(net.layer_bias(layer), net.n_slots)
        if dense:
            layers.append(_dense_layer(p, broadcast, bias, dtype=dtype, device=device))
        else:
            layers.append(SparseLinear(p, broadcast, bias, dtype=dtype, device=device))
    return ExportedNetwork(layers, width=D, circuit_width=net.circuit_width)
