"""Adapters: a trained method's parameters in the form the scorers take.

- :func:`from_sae`: a sparse autoencoder (encoder ``W_enc`` ``(D, K)``, ``b_enc`` ``(K,)``,
  decoder ``W_dec`` ``(K, D)``, ``b_dec`` ``(D,)``, the shapes SAELens uses, and the hook or layer it
  was trained on) as a :class:`circuits.export.Dictionary` for :func:`circuits.export.score_features`.
  ReLU, JumpReLU (a per-feature threshold) and top-k activations are built in; any other is a function.
- :func:`from_components`: parameter-decomposition components (per module, ``V`` ``(d_in, C)`` and
  ``U`` ``(C, d_out)`` with the module's weight ``(V @ U)^T``, the layout of stochastic parameter
  decomposition's linear components) as rank-one factor pairs for
  :func:`circuits.export.score_decomposition`.

Module names and hooks are the exported module's (:func:`circuits.to_module`): ``layers.{l}`` is
the Linear that computes network layer ``l`` (its weight is ``W[l]``), ``layers.{l}.hook_post`` the
activations of layer ``l``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch

from ..base import CircuitsError, require, require_array, require_bool, require_int
from ._dictionary import Dictionary

_HOOK = re.compile(r"^layers\.(\d+)\.hook_post$")
_MODULE = re.compile(r"^layers\.(\d+)$")


def _tensor(value, name: str) -> torch.Tensor:
    """``value`` (numpy, torch, lists) as a float32 CPU tensor: real numbers, finite (:func:`require_array`)."""
    if value is None:
        raise CircuitsError(f"{name} is needed", parameter=name)
    return torch.from_numpy(require_array(name, value)).to(torch.float32)


def _layer_of(layer, hook) -> int:
    require(layer is None or hook is None, "give layer or hook, not both", parameter="hook")
    if hook is not None:
        match = _HOOK.match(str(hook))
        require(match is not None, f"hook must be an activation hook layers.{{l}}.hook_post of the exported module, "
                                   f"got {hook!r}", parameter="hook")
        return int(match.group(1))
    require(layer is not None, "the network layer the SAE reads is needed: layer= or hook=", parameter="layer")
    return require_int("layer", layer, 1)


def _activation(activation, threshold, K: int):
    if callable(activation):
        return activation
    if activation == "relu":
        return torch.relu
    if activation == "jumprelu":
        theta = _tensor(threshold, "threshold")
        require(theta.shape == (K,), f"threshold must have shape (K,) = ({K},), got {tuple(theta.shape)}",
                parameter="threshold")
        return lambda pre: pre * (pre > theta)
    match = re.fullmatch(r"topk:(\d+)", str(activation))
    if match:
        k = require_int("activation", int(match.group(1)), 1, K)

        def top(pre: torch.Tensor) -> torch.Tensor:
            values, index = torch.topk(pre, k, dim=1)
            return torch.zeros_like(pre).scatter_(1, index, torch.relu(values))
        return top
    raise CircuitsError(f"activation must be 'relu', 'jumprelu', 'topk:K' or a function, got {activation!r}",
                        parameter="activation")


def from_sae(sae=None, *, W_enc=None, b_enc=None, W_dec=None, b_dec=None, layer: int | None = None,
             hook: str | None = None, activation="relu", threshold=None, subtract_decoder_bias: bool = True,
             name: str = "sae") -> Dictionary:
    """A sparse autoencoder as a :class:`circuits.export.Dictionary` of the layer it was trained on.

    The encoder is ``codes = act((x - b_dec) @ W_enc + b_enc)`` (without ``- b_dec`` when
    ``subtract_decoder_bias`` is false); the decoder's rows are the features.

    Args:
        sae: an object with attributes ``W_enc``, ``W_dec``, ``b_enc``, ``b_dec`` (SAELens' names and
            shapes; also ``threshold`` for JumpReLU) whose values are used where the keyword
            arguments are not given; if it has a callable ``encode``, that is the encoder.
        W_enc: ``(D, K)``. b_enc: ``(K,)``. W_dec: ``(K, D)``. b_dec: ``(D,)`` (numpy or torch).
        layer: the network layer whose activations (``layers.{layer}.hook_post``) it reads, or
        hook: that hook's name.
        activation: ``"relu"``, ``"jumprelu"`` (with ``threshold`` ``(K,)``: a code is its
            pre-activation where that exceeds the threshold, else 0), ``"topk:k"`` (the ``k``
            largest pre-activations per sample, through ReLU), or a function of the ``(B, K)``
            pre-activations.
        threshold: JumpReLU's thresholds.
        subtract_decoder_bias: subtract ``b_dec`` from the input before encoding (SAELens' default).
        name: what the scorers call it.

    Returns:
        :class:`circuits.export.Dictionary`.

    Example:
        >>> import torch
        >>> D, K = 6, 4
        >>> W = torch.eye(D)[:K]                           # (K, D): features on the first four neurons
        >>> sae = from_sae(W_enc=W.T, b_enc=torch.full((K,), -0.5), W_dec=W, b_dec=torch.zeros(D), layer=2)
        >>> sae
        Dictionary(name='sae', layer=2, n_features=4, width=6, encoder=yes)
        >>> sae.encode(torch.tensor([[1.0, 0.2, 2.0, 0.0, 5.0, 5.0]]))
        array([[0.5, 0. , 1.5, 0. ]])
    """
    pick = (lambda given, attr: given if given is not None else getattr(sae, attr, None))
    W_dec = _tensor(pick(W_dec, "W_dec"), "W_dec")
    require(W_dec.ndim == 2, f"W_dec must be (K, D), got shape {tuple(W_dec.shape)}", parameter="W_dec")
    K, D = W_dec.shape
    if hook is None and layer is None and sae is not None:
        cfg = getattr(sae, "cfg", None)
        hook = getattr(cfg, "hook_name", None) or getattr(getattr(cfg, "metadata", None), "hook_name", None)
    layer = _layer_of(layer, hook)
    subtract_decoder_bias = require_bool("subtract_decoder_bias", subtract_decoder_bias)
    own = getattr(sae, "encode", None)
    if callable(own) and W_enc is None:
        return Dictionary(W_dec, layer=layer, encoder=own, name=name)
    W_enc = _tensor(pick(W_enc, "W_enc"), "W_enc")
    b_enc = _tensor(pick(b_enc, "b_enc"), "b_enc")
    b_dec = _tensor(pick(b_dec, "b_dec"), "b_dec")
    require(tuple(W_enc.shape) == (D, K), f"W_enc must have shape (D, K) = ({D}, {K}) (SAELens' layout; an "
                                          f"nn.Linear weight is its transpose), got {tuple(W_enc.shape)}",
            parameter="W_enc")
    require(tuple(b_enc.shape) == (K,), f"b_enc must have shape ({K},), got {tuple(b_enc.shape)}", parameter="b_enc")
    require(tuple(b_dec.shape) == (D,), f"b_dec must have shape ({D},), got {tuple(b_dec.shape)}", parameter="b_dec")
    act = _activation(activation, pick(threshold, "threshold") if activation == "jumprelu" else threshold, K)
    shift = b_dec if subtract_decoder_bias else torch.zeros_like(b_dec)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return act((x.float() - shift) @ W_enc + b_enc)

    return Dictionary(W_dec.double().numpy(), layer=layer, encoder=encode, name=name)


def _key_layer(key) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return require_int("components", int(key), 1)
    match = _MODULE.match(str(key))
    require(match is not None, f"components must be keyed by network layers or module names layers.{{l}}, got "
                               f"{key!r}", parameter="components")
    return require_int("components", int(match.group(1)), 1)


def from_components(components: Mapping) -> dict[int, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Parameter-decomposition components as rank-one factor pairs, per network layer.

    Args:
        components: ``{layer or "layers.{l}": (V, U)}`` with ``V`` ``(d_in, C)`` and ``U``
            ``(C, d_out)`` (numpy or torch) such that the module's weight ``W[l]`` (``(d_out, d_in)``)
            is approximated by ``(V @ U)^T``, component ``c`` being the rank-one matrix
            ``U[c]^T V[:, c]^T`` (outer product: output side ``U[c]``, input side ``V[:, c]``); or an
            object with attributes ``V`` and ``U`` (a linear-components module).

    Returns:
        ``{layer: [(u_c (d_out,), v_c (d_in,)), ...]}``, ready for
        :func:`circuits.export.score_decomposition` (``u_c v_c^T`` per component).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> V, U = torch.randn(8, 3, generator=g), torch.randn(3, 8, generator=g)   # 3 components of an 8 x 8 layer
        >>> pairs = from_components({"layers.2": (V, U)})[2]
        >>> total = sum(torch.outer(u, v) for u, v in pairs)
        >>> len(pairs), bool(torch.allclose(total, (V @ U).T.double(), atol=1e-5))
        (3, True)
    """
    require(isinstance(components, Mapping) and len(components) > 0,
            "components must be a non-empty mapping {layer or 'layers.{l}': (V, U)}", parameter="components")
    out: dict[int, list] = {}
    for key, value in components.items():
        layer = _key_layer(key)
        require(layer not in out, f"layer {layer} is given twice", parameter="components")
        if isinstance(value, tuple):
            require(len(value) == 2, f"components[{key!r}] must be a pair (V, U)", parameter="components")
            V, U = value
        else:
            V, U = getattr(value, "V", None), getattr(value, "U", None)
        V, U = _tensor(V, "V"), _tensor(U, "U")
        require(V.ndim == 2 and U.ndim == 2 and V.shape[1] == U.shape[0],
                f"components[{key!r}] must be V (d_in, C) and U (C, d_out), got {tuple(V.shape)} and {tuple(U.shape)}",
                parameter="components")
        out[layer] = [(U[c].double(), V[:, c].double()) for c in range(V.shape[1])]
    return out
