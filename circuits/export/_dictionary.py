"""A dictionary of features in activation space: decoder directions and, optionally, the encoder that says when each fires.

Sparse autoencoders, transcoders' read-outs and other dictionary methods describe one layer's
activations as sums of *features*: a decoder direction each, and a code per sample (the
feature's activity; it *fires* when its code is positive). :class:`Dictionary` holds what
:func:`circuits.export.score_features` needs of one: the ``(K, D)`` decoder (rows are
features, in the ``(B, D)`` layout of the exported module), the network layer whose activations
(hook ``layers.{layer}.hook_post``) it describes, and the encoder, a function from ``(B, D)``
activations to ``(B, K)`` codes. The adapters (:func:`circuits.export.from_sae`) build one from
a trained method; :meth:`circuits.export.GroundTruth.dictionary` is the truth's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import lazy_module, require, require_array, require_int

sp = lazy_module("scipy.sparse")


def as_matrix(value, name: str, *, sparse_ok: bool = True):
    """A 2-D float64 numpy array (or CSR matrix) from numpy, torch or scipy input, checked: real numbers (not
    complex, strings or objects; a tensor with values, not on the ``meta`` device), finite."""
    if sp.issparse(value):
        require(value.dtype.kind in "biuf", f"{name} must hold real numbers, got dtype {value.dtype}", parameter=name)
        out = sp.csr_array(value, dtype=np.float64) if sparse_ok else np.asarray(value.toarray(), dtype=np.float64)
    else:
        out = require_array(name, value, finite=False)
    require(out.ndim == 2, f"{name} must be a 2-D array, got shape {out.shape}", parameter=name)
    values = out.data if sp.issparse(out) else out
    require(bool(np.all(np.isfinite(values))), f"{name} must be finite (found NaN or inf)", parameter=name)
    return out


@dataclass(frozen=True, eq=False)
class Dictionary:
    """Features of one layer's activations: their decoder directions and, optionally, their encoder.

    Attributes:
        decoder: ``(K, D)`` float64 numpy array or scipy CSR matrix: row ``k`` is feature ``k``'s
            direction in the layer's ``(B, D)`` activations (any norm; the scorer uses directions).
        layer: the network layer whose activations the features describe (1..L; hook
            ``layers.{layer}.hook_post`` of the exported module).
        encoder: a function from ``(B, D)`` float32 activations (torch) to ``(B, K)`` codes
            (torch or numpy); feature ``k`` *fires* on a sample when its code is positive. ``None``:
            no activity (the scorer then scores directions only).
        name: what to call it in tables.

    Example:
        >>> import numpy as np, torch
        >>> dictionary = Dictionary(np.eye(3), layer=2, encoder=torch.relu, name="axes")
        >>> dictionary.n_features, dictionary.width, dictionary.encode(torch.tensor([[1.0, -2.0, 0.5]]))
        (3, 3, array([[1. , 0. , 0.5]]))
    """

    decoder: object = field(repr=False)
    layer: int
    encoder: Callable | None = field(default=None, repr=False)
    name: str = "dictionary"

    def __post_init__(self):
        object.__setattr__(self, "decoder", as_matrix(self.decoder, "decoder"))
        object.__setattr__(self, "layer", require_int("layer", self.layer, 0))
        require(self.encoder is None or callable(self.encoder),
                f"encoder must be a function of the activations or None, got {type(self.encoder).__name__}",
                parameter="encoder")
        require(isinstance(self.name, str), f"name must be a string, got {self.name!r}", parameter="name")

    @property
    def n_features(self) -> int:
        """K."""
        return int(self.decoder.shape[0])

    @property
    def width(self) -> int:
        """D, the width of the activations."""
        return int(self.decoder.shape[1])

    def encode(self, acts) -> np.ndarray:
        """``(B, K)`` float64 codes of ``(B, D)`` activations (torch or numpy), through :attr:`encoder`."""
        require(self.encoder is not None, f"the dictionary {self.name!r} has no encoder: give its codes instead",
                parameter="codes")
        usable = isinstance(acts, torch.Tensor) and acts.device.type != "meta" and not acts.is_complex()
        x = (acts if usable else torch.from_numpy(require_array("acts", acts, finite=False))).to(torch.float32)
        require(x.ndim == 2 and x.shape[1] == self.width,
                f"activations must have shape (B, {self.width}), got {tuple(x.shape)}", parameter="acts")
        with torch.no_grad():
            codes = self.encoder(x)
        codes = require_array(f"the codes of {self.name!r}'s encoder", codes, finite=False, parameter="encoder")
        require(codes.shape == (x.shape[0], self.n_features),
                f"the encoder of {self.name!r} must return (B, K) = {(x.shape[0], self.n_features)} codes, got "
                f"{codes.shape}", parameter="encoder")
        require(bool(np.all(np.isfinite(codes))), f"the encoder of {self.name!r} returned NaN or inf",
                parameter="encoder")
        return codes

    def __repr__(self) -> str:
        return (f"Dictionary(name={self.name!r}, layer={self.layer}, n_features={self.n_features}, width={self.width}, "
                f"encoder={'yes' if self.encoder is not None else 'no'})")
