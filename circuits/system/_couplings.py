"""Cross-circuit couplings: circuits that read other circuits' activations.

:class:`Couplings` lists edges ``(layer l, receiver u, sender t, block B)``: at network layer
``l`` (2..L) circuit ``u`` adds ``B @ a_t[l-1]`` to its pre-activation, besides its own
``w_u[l] @ a_u[l-1]``:

    a_u[l] = ReLU(w_u[l] a_u[l-1] + sum_{edges (l, u, t, B)} B a_t[l-1] + b)

Layer 1 carries no edges (in the large network layer 0 already holds the first
pre-activations and layer 1 only adds the bias). A circuit's own block is the coupling
``(t, t, w_t)``; the builder treats both kinds the same way (see ``circuits/construction/_schemes.py``).
With no edges every circuit computes alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import CircuitsError, require, require_int


@dataclass(frozen=True, eq=False)
class Couplings:
    """Cross-circuit edges of a family of ``T`` circuits of width ``d``.

    Attributes:
        n_circuits: T.
        circuit_width: d.
        layer: ``(E,)`` network layer of each edge, in ``2..L``.
        receiver: ``(E,)`` circuit ``u`` that adds the term to its pre-activation.
        sender: ``(E,)`` circuit ``t`` whose activations ``a_t[l-1]`` are read (``t != u``).
        block: ``(E, d, d)`` the matrix ``B`` applied to ``a_t[l-1]``.

    Example:
        >>> import numpy as np
        >>> g = Couplings(3, 2, layer=[2], receiver=[1], sender=[0], block=np.eye(2)[None])
        >>> g
        Couplings(T=3, d=2, edges=1, layers 2..2)
    """

    n_circuits: int
    circuit_width: int
    layer: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    block: np.ndarray

    def __post_init__(self):
        T = require_int("n_circuits", self.n_circuits, 1)
        d = require_int("circuit_width", self.circuit_width, 1)
        arrays = {}
        for name in ("layer", "receiver", "sender"):
            arr = np.asarray(getattr(self, name))
            require(arr.ndim == 1, f"{name} must have shape (E,), got {arr.shape}")
            require(arr.size == 0 or np.issubdtype(arr.dtype, np.integer), f"{name} must hold integers")
            arrays[name] = arr.astype(np.int64)
        E = len(arrays["layer"])
        require(len(arrays["receiver"]) == E and len(arrays["sender"]) == E,
                f"layer, receiver and sender must have the same length E, got "
                f"{[len(a) for a in arrays.values()]}")
        block = np.asarray(self.block, dtype=np.float64)
        if E == 0 and block.size == 0:
            block = block.reshape(0, d, d)
        require(block.shape == (E, d, d), f"block must have shape (E, d, d) = {(E, d, d)}, got {block.shape}")
        require(bool(np.all(np.isfinite(block))), "block must be finite (found NaN or inf)")
        if E:
            require(arrays["layer"].min() >= 2, f"layer must be >= 2 (layer 1 carries no edges), "
                                                f"got {int(arrays['layer'].min())}")
            for name in ("receiver", "sender"):
                a = arrays[name]
                require(a.min() >= 0 and a.max() < T, f"{name} must hold circuit indices in 0..{T - 1}")
            require(not np.any(arrays["receiver"] == arrays["sender"]),
                    "an edge must join two different circuits (receiver != sender)")
        object.__setattr__(self, "n_circuits", T)
        object.__setattr__(self, "circuit_width", d)
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        block.setflags(write=False)
        object.__setattr__(self, "block", block)

    def __repr__(self) -> str:
        span = f", layers {int(self.layer.min())}..{self.max_layer}" if self.n_edges else ""
        return f"Couplings(T={self.n_circuits}, d={self.circuit_width}, edges={self.n_edges}{span})"

    @property
    def n_edges(self) -> int:
        """E."""
        return len(self.layer)

    @property
    def max_layer(self) -> int:
        """The last layer that carries an edge (1 when there are none)."""
        return int(self.layer.max()) if self.n_edges else 1

    def edges_at(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(receiver, sender, block)`` of the edges of ``layer``, sorted by sender."""
        sel = np.nonzero(self.layer == layer)[0]
        sel = sel[np.argsort(self.sender[sel], kind="stable")]
        return self.receiver[sel], self.sender[sel], self.block[sel]

    def edges_per_circuit(self) -> float:
        """Mean number of incoming edges per circuit, ``E / T``."""
        return self.n_edges / self.n_circuits

    def depth(self) -> np.ndarray:
        """``(T,)`` depth of every circuit: 1 for a circuit that receives no edge, else 1 + the
        largest depth of its senders (the number of circuits on the longest path of edges
        ending at it, whatever the layers of the edges).

        Raises :class:`CircuitsError` when the edges form a cycle (no depth is defined).

        Example:
            >>> g = Couplings(4, 1, layer=[2, 3, 2], receiver=[1, 2, 2], sender=[0, 1, 3],
            ...               block=np.ones((3, 1, 1)))
            >>> g.depth().tolist()
            [1, 2, 3, 1]
        """
        depth = np.ones(self.n_circuits, dtype=np.int64)
        for _ in range(self.n_circuits):  # a path has at most T - 1 edges
            longer = depth.copy()
            np.maximum.at(longer, self.receiver, depth[self.sender] + 1)
            if np.array_equal(longer, depth):
                return depth
            depth = longer
        raise CircuitsError("the edges of the couplings form a cycle: circuit depth is defined for acyclic "
                            "graphs only")

    def relaid(self, *, layer: np.ndarray | None = None, block: np.ndarray | None = None,
               circuit_width: int | None = None) -> "Couplings":
        """The same edges at other layers, with other blocks or of another circuit width."""
        return Couplings(self.n_circuits, self.circuit_width if circuit_width is None else circuit_width,
                         layer=self.layer if layer is None else layer, receiver=self.receiver, sender=self.sender,
                         block=self.block if block is None else block)
