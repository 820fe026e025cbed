"""Network: the constructed large network, its forward pass and its read-out.

Activations are held as ``(B, d, D/d)`` tensors: group ``i`` (small neuron ``i`` of every
circuit) is ``A[:, i, :]``; flattening the last two axes gives the ``(B, D)`` layout in
which group ``i`` occupies neurons ``i D/d .. (i+1) D/d - 1``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from ._assignment import Assignment
from ._errors import require
from ._families import CircuitFamily


@dataclass(frozen=True, eq=False)
class Network:
    """A large network computing T small circuits in superposition (made by :func:`build`).

    Attributes:
        family: the small circuits.
        config: the :class:`NetworkConfig` it was built with.
        assignment: the neuron sets of every circuit in every layer.
        patterns: per layer, the capped 0/1 pattern ``C[l]`` (scipy CSR, ``None`` at layer 0
            and for methods without a cap).
        chi: per layer, the chi correction (0 at layer 0 and without a cap).
        corrections: per layer, ``c`` of the corrected read-out vector (older methods).
        device: torch device of the forward pass.
    """

    family: CircuitFamily
    config: object
    assignment: Assignment
    patterns: tuple
    chi: tuple
    corrections: tuple
    device: str = "cpu"
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_circuits(self) -> int:
        """T."""
        return self.family.n_circuits

    @property
    def circuit_width(self) -> int:
        """d."""
        return self.family.circuit_width

    @property
    def width(self) -> int:
        """D."""
        return self.config.width

    @property
    def redundancy(self) -> int:
        """S."""
        return self.config.redundancy

    @property
    def n_layers(self) -> int:
        """L."""
        return self.config.n_layers

    @property
    def n_slots(self) -> int:
        """D/d."""
        return self.config.width // self.circuit_width

    @property
    def load(self) -> float:
        """``T (d/D)^2``."""
        from theory import load

        return load(self.n_circuits, self.width, self.circuit_width)

    # ------------------------------------------------------------ torch state
    def _t(self, key: str):
        """Tensors on ``self.device``, made once."""
        if key not in self._cache:
            dev = torch.device(self.device)
            f32 = torch.float32
            if key == "sets":
                value = torch.as_tensor(self.assignment.sets, dtype=torch.long, device=dev)
            elif key == "bias":
                value = torch.as_tensor(self.family.bias, dtype=f32, device=dev)
            elif key.startswith("w"):
                layer = int(key[1:])
                mean, diff = self.family.layer_weights(layer)
                value = (torch.as_tensor(mean, dtype=f32, device=dev),
                         torch.as_tensor(diff, dtype=f32, device=dev))
            elif key.startswith("C"):
                c = self.patterns[int(key[1:])].tocsr()
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                    value = torch.sparse_csr_tensor(
                        torch.as_tensor(c.indptr, dtype=torch.int64), torch.as_tensor(c.indices, dtype=torch.int64),
                        torch.as_tensor(c.data, dtype=f32), size=c.shape, check_invariants=False).to(dev)
            else:  # pragma: no cover
                raise KeyError(key)
            self._cache[key] = value
        return self._cache[key]

    # ----------------------------------------------------------- forward pass
    def place(self, active: np.ndarray, values: np.ndarray, layer: int = 0) -> torch.Tensor:
        """Write each active circuit's small activations into its ``e[layer]`` neurons.

        Args:
            active: ``(B, z)`` circuit indices (distinct within a row).
            values: ``(B, z, d)`` their small-circuit values.
            layer: whose layout to use.

        Returns:
            ``(B, d, D/d)`` float32 tensor (values of circuits that share a neuron add up).
        """
        active = torch.as_tensor(np.asarray(active), dtype=torch.long, device=self.device)
        values = torch.as_tensor(np.asarray(values), dtype=torch.float32, device=self.device)
        B, z = active.shape
        d, N, S = self.circuit_width, self.n_slots, self.redundancy
        slots = self._t("sets")[layer][active]  # (B, z, S)
        out = torch.zeros(B, d, N, device=self.device)
        src = values.transpose(1, 2).unsqueeze(-1).expand(B, d, z, S).reshape(B, d, z * S)
        out.scatter_add_(2, slots.reshape(B, 1, z * S).expand(B, d, z * S), src)
        return out

    def embed(self, active: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        """Layer 0: the active circuits' first pre-activations ``w_t[1] @ a_t[0]`` in ``e[0]``.

        Args:
            active: ``(B, z)`` circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``family.encode``).
        """
        mean, diff = self.family.layer_weights(1)
        active = np.asarray(active)
        pre = np.einsum("bzij,bzj->bzi", mean + diff[active], np.asarray(inputs, dtype=np.float64))
        return self.place(active, pre, 0)

    def active_mask(self, active: np.ndarray, layer: int) -> torch.Tensor:
        """``(B, 1, D/d)`` 0/1 mask of the slots that the active circuits own at ``layer``."""
        active = torch.as_tensor(np.asarray(active), dtype=torch.long, device=self.device)
        B = active.shape[0]
        slots = self._t("sets")[layer][active].reshape(B, -1)
        mask = torch.zeros(B, self.n_slots, device=self.device)
        mask.scatter_(1, slots, 1.0)
        return mask.unsqueeze(1)

    def step(self, layer: int, prev: torch.Tensor, *, active=None) -> torch.Tensor:
        """One computation step: activations of ``layer`` from those of ``layer - 1``.

        Args:
            layer: 1..L (layer 1 adds the bias to layer 0's pre-activations).
            prev: ``(B, d, D/d)`` activations of layer ``layer - 1``.
            active: if given (``(B, z)`` indices), the "ideal" mode: instead of ReLU, keep
                exactly the neurons owned by the active circuits (pre-activations unchanged).

        Returns:
            ``(B, d, D/d)`` activations.
        """
        pre = self.preactivation(layer, prev)
        if active is None:
            return torch.relu(pre)
        return pre * self.active_mask(active, layer)

    def preactivation(self, layer: int, prev: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``W[layer] @ prev + b`` computed from the structured weights."""
        require(1 <= layer <= self.n_layers, f"layer must be in 1..{self.n_layers}, got {layer}")
        if layer == 1:  # layer 0 already holds the first pre-activations
            return prev + self._t("bias")[None, :, None]
        sets = self._t("sets")
        s_in, s_out = sets[layer - 1], sets[layer]
        mean, diff = self._t(f"w{layer}")
        B, d, N = prev.shape
        S = self.redundancy
        method = self.config.method
        r = prev[:, :, s_in].sum(-1)  # (B, d, T): each circuit's input sum over its S neurons
        y_diff = torch.einsum("tij,bjt->bit", diff, r)
        if method == "capped":
            out = self._scatter(y_diff, s_out, N)
            flat = prev.permute(2, 0, 1).reshape(N, B * d)
            capped = (self._t(f"C{layer}") @ flat).reshape(N, B, d).permute(1, 2, 0)
            chi = self.chi[layer]
            shared = (1 + chi) * capped - chi * prev.sum(-1, keepdim=True)
            out = out + torch.einsum("ij,bjn->bin", mean, shared)
            return out / S + self._t("bias")[None, :, None]
        c = self.corrections[layer]
        y_mean = torch.einsum("ij,bjt->bit", mean, r)
        if method == "uncorrected":
            y = y_mean + y_diff
            out = (1.0 / S + c) * self._scatter(y, s_out, N) - c * y.sum(-1, keepdim=True)
        else:  # split
            out = ((1.0 / S + c) * self._scatter(y_mean, s_out, N) - c * y_mean.sum(-1, keepdim=True)
                   + self._scatter(y_diff, s_out, N) / S)
        return out + self._t("bias")[None, :, None]

    @staticmethod
    def _scatter(y: torch.Tensor, slots: torch.Tensor, n_slots: int) -> torch.Tensor:
        """Add each circuit's value ``y[:, :, t]`` into its S slots: ``(B, d, T) -> (B, d, N)``."""
        B, d, T = y.shape
        S = slots.shape[1]
        out = torch.zeros(B, d, n_slots, dtype=y.dtype, device=y.device)
        out.index_add_(2, slots.reshape(-1), y.unsqueeze(-1).expand(B, d, T, S).reshape(B, d, T * S))
        return out

    def forward(self, active: np.ndarray, inputs: np.ndarray, *, ideal: bool = False) -> list[torch.Tensor]:
        """Run the network on a batch; returns the activations of layers ``0..L``.

        Args:
            active: ``(B, z)`` active circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``family.encode``).
            ideal: use the mask instead of ReLU (isolates the error ReLUs fail to remove).

        Returns:
            list of ``L+1`` tensors ``(B, d, D/d)``.
        """
        acts = [self.embed(active, inputs)]
        for layer in range(1, self.n_layers + 1):
            acts.append(self.step(layer, acts[-1], active=active if ideal else None))
        return acts

    # ----------------------------------------------------------------- readout
    def read_out(self, acts: torch.Tensor, layer: int, circuits: np.ndarray | None = None) -> torch.Tensor:
        """Read circuits' small activations at ``layer``: ``e[l,t]^T A / S`` per group.

        Args:
            acts: ``(B, d, D/d)`` activations of ``layer``.
            layer: 0..L.
            circuits: ``(B, m)`` indices per sample, or ``None`` for all T circuits.

        Returns:
            ``(B, m, d)`` (or ``(B, T, d)``) estimated small-circuit activations.
        """
        sets = self._t("sets")[layer]
        S = self.redundancy
        if circuits is None:
            sums = acts[:, :, sets].sum(-1).transpose(1, 2)  # (B, T, d)
        else:
            idx = sets[torch.as_tensor(np.asarray(circuits), dtype=torch.long, device=acts.device)]  # (B, m, S)
            B, m, _ = idx.shape
            g = torch.gather(acts, 2, idx.reshape(B, 1, m * S).expand(B, acts.shape[1], m * S))
            sums = g.reshape(B, -1, m, S).sum(-1).transpose(1, 2)
        if self.config.method == "capped":
            return sums / S
        c = self.corrections[layer]
        return (1.0 / S + c) * sums - c * acts.sum(-1)[:, None, :]

    # ------------------------------------------------------------ dense form
    def dense_weights(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(D, D)`` weight matrix and ``(D,)`` bias of ``layer``, written out densely.

        Built straight from the formulas of DESIGN.md section 1 (independently of the
        structured forward pass), for checks and export. Costs ``O(D^2)`` memory. Layer 1
        is the identity (layer 0 already holds the first pre-activations).
        """
        require(1 <= layer <= self.n_layers, f"layer must be in 1..{self.n_layers}, got {layer}")
        N, S, d, T = self.n_slots, self.redundancy, self.circuit_width, self.n_circuits
        bias = np.repeat(self.family.bias, N)
        if layer == 1:
            return np.eye(d * N), bias
        e_out = np.zeros((T, N))
        e_in = np.zeros((T, N))
        rows = np.arange(T)[:, None]
        e_out[rows, self.assignment.sets[layer]] = 1.0
        e_in[rows, self.assignment.sets[layer - 1]] = 1.0
        mean, diff = self.family.layer_weights(layer)
        method = self.config.method
        if method == "capped":
            cap = np.minimum(1.0, e_out.T @ e_in)
            shared = cap - self.chi[layer] * (1.0 - cap)
            blocks = (np.einsum("tij,tn,tm->ijnm", diff, e_out, e_in) + mean[:, :, None, None] * shared) / S
        else:
            c = self.corrections[layer]
            u = e_out * (1.0 / S + c) - c
            if method == "uncorrected":
                blocks = np.einsum("tij,tn,tm->ijnm", mean + diff, u, e_in)
            else:
                blocks = (mean[:, :, None, None] * (u.T @ e_in)
                          + np.einsum("tij,tn,tm->ijnm", diff, e_out, e_in) / S)
        return blocks.transpose(0, 2, 1, 3).reshape(d * N, d * N), bias

    def to(self, device: str) -> "Network":
        """The same network with its forward pass on ``device``."""
        from ._builder import _check_device

        _check_device(device)
        return Network(self.family, self.config, self.assignment, self.patterns, self.chi,
                       self.corrections, device)
