"""Streaming samples and their activations, batch by batch, without writing them anywhere.

Training a dictionary (a sparse autoencoder, a transcoder) takes millions of samples; a data set
file of that size is gigabytes. :class:`ActivationStream` draws the samples, runs the network up
to the deepest layer asked for and yields, per batch, the activations at the chosen hook points
with the intended and the actual on-state of every circuit (:class:`ActivationBatch`). It is a
``torch.utils.data.IterableDataset``: iterate it directly, or hand it to a ``DataLoader`` with
``batch_size=None`` (several workers split the batches among them; every batch is the same
whoever draws it).

Seeding. Batch ``i`` draws its active circuits and payloads (as :func:`circuits.evaluate` does:
whole activation groups, uniform unit payloads) from ``numpy.random.default_rng([seed, i])``, so
the stream is reproducible, batch ``i`` does not depend on the batches before it, and
:meth:`ActivationStream.batch` gives any one of them directly.

The forward pass is the exported module's (:func:`circuits.to_module`: dense ``nn.Linear``
layers up to ``D = 4096``), except that layer 1, whose weight is the identity, is computed as
``ReLU(x + b)`` without the product (the same numbers). Memory is bounded by one batch: its
activations at every layer up to the deepest hook, ``(B, D)`` each, and its read-outs
``(B, T, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import require, require_bool, require_int
from ._dataset import default_n_active
from ._ground_truth import GroundTruth
from ._module import HOOK_KINDS, hook_name, to_module
from ._readout import ACTUAL_ON_THRESHOLD, check_threshold, intended_on

#: The largest seed accepted (64-bit non-negative integers).
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True, eq=False)
class ActivationBatch:
    """One batch of a stream: the samples, the activations at the chosen hooks, and which circuits are on.

    Attributes:
        index: the batch's number in its stream (it seeds the batch's draws).
        active: ``(B, z)`` int64, the circuits each sample made active.
        payloads: ``(B, z, k)`` float64, their payloads.
        activations: ``{hook name: (B, D) float32 tensor}`` for the stream's hooks.
        intended: ``(B, T)`` bool, the circuits each sample made active.
        actual: ``{layer: (B, T) bool}``, the circuits actually on (read-out on-indicator above the
            stream's on-threshold) at every network layer a hook reads; layer 0 holds the inputs,
            so there it is ``intended``. Empty when the stream has ``labels=False``.
    """

    index: int
    active: np.ndarray = field(repr=False)
    payloads: np.ndarray = field(repr=False)
    activations: dict = field(repr=False)
    intended: np.ndarray = field(repr=False)
    actual: dict = field(repr=False)

    def __len__(self) -> int:
        return int(self.active.shape[0])

    def layer(self, layer: int, kind: str = "post") -> torch.Tensor:
        """The activations of network layer ``layer`` (``kind="post"``) or its pre-activations (``"pre"``)."""
        name = hook_name(layer, kind)
        require(name in self.activations, f"this batch holds {sorted(self.activations)}, not {name}",
                parameter="layer")
        return self.activations[name]

    def __repr__(self) -> str:
        return f"ActivationBatch(index={self.index}, size={len(self)}, hooks={list(self.activations)})"


def _hooks(hooks, n_layers: int) -> list[tuple[int, str]]:
    """``[(layer, kind)]`` of hook names ``layers.{l}.hook_{kind}`` or network layers (their ``post``)."""
    items = [hooks] if isinstance(hooks, (str, int, np.integer)) else list(hooks)
    require(items, "hooks must name at least one hook point", parameter="hooks")
    out = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append((require_int("hooks", item, 0, n_layers), "post"))
            continue
        parts = str(item).split(".")
        ok = (len(parts) == 3 and parts[0] == "layers" and parts[1].isdigit() and parts[2].startswith("hook_")
              and parts[2][5:] in HOOK_KINDS and int(parts[1]) <= n_layers and (int(parts[1]) > 0 or parts[2] ==
                                                                                   "hook_post"))
        require(ok, f"hooks must be network layers 0..{n_layers} or hook names layers.{{l}}.hook_post (l = "
                    f"0..{n_layers}) / layers.{{l}}.hook_pre (l = 1..{n_layers}), got {item!r}", parameter="hooks")
        out.append((int(parts[1]), parts[2][5:]))
    require(len(set(out)) == len(out), "hooks must not repeat a hook point", parameter="hooks")
    return out


class ActivationStream(torch.utils.data.IterableDataset):
    """Samples of a network with their activations at chosen hooks and their on-states, batch by batch.

    Args:
        truth: the network's :class:`circuits.GroundTruth`.
        hooks: what to keep: network layers (their activations, ``layers.{l}.hook_post``) or hook
            names (``layers.{l}.hook_pre`` / ``layers.{l}.hook_post``); default the last layer.
        batch_size: samples per batch (the last one of a finite stream may be smaller).
        n_samples: samples in all (``None``: endless).
        seed: seeds the draws (see the module docstring).
        n_active: z, circuits active per sample; default as :meth:`circuits.GroundTruth.dataset`.
        on_threshold: the read-out on-indicator above which a circuit counts as actually on.
        labels: compute the actual on-states (a read-out of every circuit at every layer a hook
            reads; ``False`` saves that time).
        dense: the module's layers (:func:`circuits.to_module`): ``None`` dense up to ``D = 4096``.

    Example:
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> stream = ActivationStream(ground_truth(net), hooks=[2, "layers.3.hook_pre"], batch_size=64, n_samples=200)
        >>> len(stream), [len(batch) for batch in stream]
        (4, [64, 64, 64, 8])
        >>> batch = stream.batch(0)
        >>> batch.layer(2).shape, batch.layer(3, "pre").shape, batch.intended.shape, sorted(batch.actual)
        (torch.Size([64, 160]), torch.Size([64, 160]), (64, 40), [2, 3])
    """

    def __init__(self, truth: GroundTruth, hooks=None, *, batch_size: int = 4096, n_samples: int | None = None,
                 seed: int = 0, n_active: int | None = None, on_threshold: float = ACTUAL_ON_THRESHOLD, labels: bool = True,
                 dense: bool | None = None):
        super().__init__()
        require(isinstance(truth, GroundTruth), f"truth must be a circuits.GroundTruth, got {type(truth).__name__}",
                parameter="truth")
        net = truth.network
        L = net.network_layers
        self.truth = truth
        self.hooks = _hooks(L if hooks is None else hooks, L)
        self.batch_size = require_int("batch_size", batch_size, 1)
        self.n_samples = None if n_samples is None else require_int("n_samples", n_samples, 1)
        self.seed = require_int("seed", seed, 0, _MAX_SEED)
        self.n_active = net.system.check_n_active(default_n_active(net) if n_active is None else n_active)
        self.on_threshold = check_threshold(on_threshold)
        self.labels = require_bool("labels", labels)
        self.last = max(layer for layer, _ in self.hooks)
        self.module = to_module(net, dense=dense, device="cpu")

    def __len__(self) -> int:
        require(self.n_samples is not None, "an endless stream (n_samples=None) has no length", parameter="n_samples")
        return math.ceil(self.n_samples / self.batch_size)

    def __repr__(self) -> str:
        names = [hook_name(layer, kind) for layer, kind in self.hooks]
        return (f"ActivationStream(hooks={names}, batch_size={self.batch_size}, n_samples={self.n_samples}, "
                f"seed={self.seed}, n_active={self.n_active})")

    def _size(self, index: int) -> int:
        if self.n_samples is None:
            return self.batch_size
        return min(self.batch_size, self.n_samples - index * self.batch_size)

    def batch(self, index: int) -> ActivationBatch:
        """Batch number ``index`` (the same as the stream yields in that place)."""
        limit = None if self.n_samples is None else len(self) - 1
        index = require_int("index", index, 0, limit)
        truth, net = self.truth, self.truth.network
        B = self._size(index)
        rng = np.random.default_rng([self.seed, index])
        active, payloads = net.system.draw(self.n_active, B, rng)
        wanted = {hook_name(layer, kind) for layer, kind in self.hooks}
        kept: dict[str, torch.Tensor] = {}
        actual: dict[int, np.ndarray] = {}
        intended = intended_on(active, net.n_circuits)
        read = {layer for layer, _ in self.hooks} if self.labels else set()
        with torch.no_grad():
            x = truth.encode(active, payloads).cpu()
            if "layers.0.hook_post" in wanted:
                kept["layers.0.hook_post"] = x
            for layer in range(1, self.last + 1):
                linear = self.module.layers[layer]
                pre = x + linear.bias if layer == 1 else linear(x)  # W[1] is the identity
                x = torch.relu(pre)
                for kind, value in (("pre", pre), ("post", x)):
                    if hook_name(layer, kind) in wanted:
                        kept[hook_name(layer, kind)] = value
                if layer in read:
                    actual[layer] = truth.on_state(x, layer, on_threshold=self.on_threshold)
        if 0 in read:
            actual[0] = intended
        order = [hook_name(layer, kind) for layer, kind in self.hooks]
        return ActivationBatch(index=index, active=active, payloads=payloads,
                               activations={name: kept[name] for name in order}, intended=intended,
                               actual={layer: actual[layer] for layer in sorted(actual)})

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        index = start
        while self.n_samples is None or index < len(self):
            yield self.batch(index)
            index += step
