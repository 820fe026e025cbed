"""A data set for a network: inputs, active sets, payloads, and optionally every layer and the reference.

:meth:`circuits.GroundTruth.dataset` draws ``B`` samples the way :func:`circuits.evaluate` does
(whole activation groups, a uniform unit payload for each member that takes one) and returns a
:class:`Dataset`; :meth:`Dataset.save` writes it as one ``.safetensors`` file that
:func:`load_dataset` (or any safetensors reader) reads back.

File schema (format ``circuits-dataset``, version :data:`DATASET_VERSION`). ``L`` is the number of
network layers, ``D`` the width, ``z`` the active circuits per sample, ``k`` the payload size and
``d`` the circuit width:

    inputs              (B, D)        float32  network layer 0, the module's input (GroundTruth.encode)
    active              (B, z)        int64    the circuits on in each sample (distinct; whole groups)
    payloads            (B, z, k)     float64  their payloads (unit vectors; 0 for members without one)
    activations         (L+1, B, D)   float32  every network layer (entry l = layer l; entry 0 = inputs);
                                               the activations of hook point layers.{l}.hook_post
    on.intended         (B, T)        bool     the circuits each sample made active
    on.readout          (L+1, B, T)   float32  every circuit's read-out on-indicator at every layer
                                               (entry 0: on.intended as 0/1, layer 0 holds the inputs)
    on.actual           (L+1, B, T)   bool     the circuits actually on: read-out > on_threshold (decided
                                               in float64, before on.readout is rounded to float32)
    reference.acts      (L+1, B, z, d) float64 the small circuits' own run (entry 0 = their input a[0])
    reference.on        (L+1, B, z)   float64  its on-indicators (1 for active circuits)
    reference.payload   (L+1, B, z, k) float64 its payloads

``activations`` and ``on.*`` are present when activations are asked for, ``reference.*`` when the
reference is. The safetensors header's ``__metadata__`` holds the seal of the storage module
(``circuits/base/_storage.py``): ``format`` (``"circuits-dataset"``), ``format_version``, ``identity``
(``{"network": fingerprint}``, the :attr:`circuits.Network.fingerprint` of the network it was drawn
from, so a data set moved to or swapped with another network's is refused by :func:`load_dataset`
given that network) and ``sha256`` (over the seal, ``info`` and every array: a damaged or edited file
is refused), and ``info``, a JSON object: ``batch_size``, ``n_active``, ``seed`` (of the draws),
``on_threshold`` (with activations), ``contents`` (the arrays present), ``network`` (the network's
parameters with the spec's names and its seeds, as ``circuits.measurement.describe`` gives them) and
``provenance`` (the spec it was built from, if any). The activations come from the framework's
forward pass (``Network.forward``); the exported module gives the same to float32 round-off. Files of
earlier versions are refused (draw the data set again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..base import (CircuitsError, available_memory, check_target, jsonable, open_arrays, require, require_bool,
                    require_int, require_path, sealed_arrays, write_file)
from ..construction import Network
from ..measurement import describe
from ._readout import ACTUAL_ON_THRESHOLD, incidence, intended_on, on_readout

#: The ``format`` a data set file carries.
DATASET_FORMAT = "circuits-dataset"
#: The data set layout this version writes and reads.
DATASET_VERSION = 4
#: The largest seed accepted (64-bit non-negative integers).
_MAX_SEED = 2**63 - 1
#: Activations computed per forward pass (bounds memory while building a data set).
_CHUNK_VALUES = 1 << 24


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples of a network's inputs with what they mean (see the module docstring for the schema).

    Attributes:
        inputs: ``(B, D)`` float32 tensor, network layer 0 (the module's input).
        active: ``(B, z)`` int64 array, the circuits on in each sample.
        payloads: ``(B, z, k)`` float64 array, their payloads.
        activations: ``(L+1, B, D)`` float32 tensor, every network layer, or ``None``.
        on_intended: ``(B, T)`` bool array, the circuits each sample made active (with activations), or ``None``.
        on_readout: ``(L+1, B, T)`` float32 array, every circuit's read-out on-indicator (entry 0:
            ``on_intended``), or ``None``.
        on_actual: ``(L+1, B, T)`` bool array, the circuits actually on (``on_readout >
            info["on_threshold"]``), or ``None``.
        reference_acts: ``(L+1, B, z, d)`` float64 array, the small circuits' own run, or ``None``.
        reference_on: ``(L+1, B, z)`` float64 array, its on-indicators, or ``None``.
        reference_payload: ``(L+1, B, z, k)`` float64 array, its payloads, or ``None``.
        info: ``batch_size``, ``n_active``, ``seed``, ``contents``, ``network``, ``provenance``.
        fingerprint: the :attr:`circuits.Network.fingerprint` of the network it was drawn from.
    """

    inputs: torch.Tensor = field(repr=False)
    active: np.ndarray = field(repr=False)
    payloads: np.ndarray = field(repr=False)
    activations: torch.Tensor | None = field(default=None, repr=False)
    on_intended: np.ndarray | None = field(default=None, repr=False)
    on_readout: np.ndarray | None = field(default=None, repr=False)
    on_actual: np.ndarray | None = field(default=None, repr=False)
    reference_acts: np.ndarray | None = field(default=None, repr=False)
    reference_on: np.ndarray | None = field(default=None, repr=False)
    reference_payload: np.ndarray | None = field(default=None, repr=False)
    info: dict = field(default_factory=dict, repr=False)
    fingerprint: str = field(default="", repr=False)

    def __repr__(self) -> str:
        net = self.info.get("network", {})
        return (f"Dataset(batch_size={self.batch_size}, n_active={self.n_active}, width={self.inputs.shape[1]}, "
                f"system={net.get('system')!r}, contents={self.info.get('contents')})")

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Sample ``index`` as tensors, so the data set is a map-style torch ``Dataset`` (``DataLoader(data)``
        batches them): ``inputs`` ``(D,)``, ``active`` ``(z,)``, ``payloads`` ``(z, k)`` and, when present,
        ``activations`` ``(L+1, D)``, ``on_intended`` ``(T,)``, ``on_actual`` ``(L+1, T)``.

        Example:
            >>> import torch
            >>> from circuits import build, ground_truth, rotation_circuits
            >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
            >>> data = ground_truth(net).dataset(10, seed=0, activations=True)
            >>> batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
            >>> batch["activations"].shape, batch["on_actual"].shape, len(list(data))
            (torch.Size([4, 4, 160]), torch.Size([4, 4, 40]), 10)
        """
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"a data set is indexed by sample number, got {type(index).__name__}")
        if not -self.batch_size <= index < self.batch_size:
            raise IndexError(f"sample {index} of a data set of {self.batch_size}")
        index = int(index) % self.batch_size
        out = {"inputs": self.inputs[index], "active": torch.as_tensor(self.active[index]),
               "payloads": torch.as_tensor(self.payloads[index])}
        if self.activations is not None:
            out["activations"] = self.activations[:, index]
        if self.on_actual is not None:
            out["on_intended"] = torch.as_tensor(self.on_intended[index])
            out["on_actual"] = torch.as_tensor(self.on_actual[:, index])
        return out

    @property
    def batch_size(self) -> int:
        """B, the number of samples."""
        return int(self.inputs.shape[0])

    @property
    def n_active(self) -> int:
        """z, circuits active per sample."""
        return int(self.active.shape[1])

    def matches(self, net: Network) -> bool:
        """Whether this data set was drawn for ``net`` (the same network: equal fingerprints)."""
        require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
        return self.fingerprint == net.fingerprint

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays under their file names (see the module docstring)."""
        out = {"inputs": self.inputs.detach().cpu().numpy().astype(np.float32),
               "active": np.asarray(self.active, dtype=np.int64),
               "payloads": np.asarray(self.payloads, dtype=np.float64)}
        if self.activations is not None:
            out["activations"] = self.activations.detach().cpu().numpy().astype(np.float32)
        if self.on_actual is not None:
            out.update({"on.intended": np.asarray(self.on_intended, dtype=bool),
                        "on.readout": np.asarray(self.on_readout, dtype=np.float32),
                        "on.actual": np.asarray(self.on_actual, dtype=bool)})
        if self.reference_acts is not None:
            out.update({"reference.acts": self.reference_acts, "reference.on": self.reference_on,
                        "reference.payload": self.reference_payload})
        return {k: np.ascontiguousarray(v) for k, v in out.items()}

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the data set to the file ``path`` (``.safetensors``), atomically.

        Args:
            path: the file to write.
            overwrite: replace an existing file (refused otherwise).

        Returns:
            the path as a :class:`pathlib.Path`.

        Raises:
            CircuitsError: ``path`` exists (without ``overwrite``) or is a directory, or the operating
                system refuses the write.
        """
        path = check_target(require_path("path", path), "path")
        require(require_bool("overwrite", overwrite) or not path.exists(),
                f"path {path} exists; pass overwrite=True to replace it", parameter="path")
        blob = sealed_arrays(self.arrays(), "dataset", DATASET_VERSION, {"network": self.fingerprint}, self.info)
        try:
            write_file(path, blob)
        except OSError as err:
            raise CircuitsError(f"cannot write the data set to {path}: {err.strerror or err}", parameter="path") \
                from err
        return path


def default_n_active(net: Network) -> int:
    """z for a network's data set: the spec's ``n_active`` it was built from, else 2 (or one activation group)."""
    given = net.provenance.get("n_active") if net.provenance else None
    if given is not None:
        return int(given)
    G = net.system.groups.size
    return min(2, net.system.max_active()) if G == 1 else G


def make_dataset(net: Network, batch_size: int, *, seed: int = 0, n_active: int | None = None,
                 activations: bool = False, reference: bool = False) -> Dataset:
    """Draw ``batch_size`` samples for ``net`` (see :meth:`circuits.GroundTruth.dataset`)."""
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    B = require_int("batch_size", batch_size, 1)
    seed = require_int("seed", seed, 0, _MAX_SEED)
    system = net.system
    z = system.check_n_active(default_n_active(net) if n_active is None else n_active)
    activations, reference = require_bool("activations", activations), require_bool("reference", reference)
    D, L, T = net.width, net.network_layers, net.n_circuits
    need = B * (2 * D * 4 + z * (8 + 16 * (system.payload_dim + net.circuit_width))  # inputs, draws, encodings
                + (L + 1) * (D * 4 + T * 5) * activations + 2 * (L + 1) * z * 8 * (net.circuit_width + 2) * reference)
    free = available_memory()
    require(need <= free, f"batch_size = {B} needs about {need / 2**30:.3g} GiB for the data set, more than the "
                          f"{free / 2**30:.3g} GiB available here; lower batch_size", parameter="batch_size")
    rng = np.random.default_rng(seed)
    active, payloads = system.draw(z, B, rng)
    small_inputs = system.encode(payloads, (B, z))
    inputs = net.embed(active, small_inputs).reshape(B, D).cpu()
    acts = on_intended = readout = actual = None
    if activations:
        acts = torch.empty((L + 1, B, D), dtype=torch.float32)
        on_intended = intended_on(active, T)
        readout = np.empty((L + 1, B, T), dtype=np.float32)
        readout[0] = on_intended
        actual = np.empty((L + 1, B, T), dtype=bool)
        actual[0] = on_intended
        tables = [None] + [incidence(net, layer, device=net.device) for layer in range(1, L + 1)]
        chunk = max(1, _CHUNK_VALUES // (D * (L + 1)))
        with torch.no_grad():
            for lo in range(0, B, chunk):
                hi = min(B, lo + chunk)
                for layer, a in enumerate(net.forward(active[lo:hi], small_inputs[lo:hi])):
                    a = a.reshape(hi - lo, D)
                    acts[layer, lo:hi] = a.cpu()
                    if layer:  # thresholded before rounding to float32, as GroundTruth.on_state does
                        value = on_readout(net, a, layer, tables[layer])
                        readout[layer, lo:hi] = value
                        actual[layer, lo:hi] = value > ACTUAL_ON_THRESHOLD
    ref_acts = ref_on = ref_payload = None
    if reference:
        ref_acts = system.run(active, small_inputs, net.n_layers)
        ref_on, ref_payload = system.family.read_on(ref_acts), system.family.read_payload(ref_acts)
    contents = ["inputs", "active", "payloads"] + (["activations"] if activations else []) + (
        ["reference.acts", "reference.on", "reference.payload"] if reference else [])
    if activations:
        contents[4:4] = ["on.intended", "on.readout", "on.actual"]
    info = {"batch_size": B, "n_active": int(z), "seed": int(seed), "contents": contents,
            "network": jsonable(describe(net)), "provenance": jsonable(dict(net.provenance))}
    if activations:
        info["on_threshold"] = ACTUAL_ON_THRESHOLD
    return Dataset(inputs=inputs, active=active, payloads=np.asarray(payloads, dtype=np.float64), activations=acts,
                   on_intended=on_intended, on_readout=readout, on_actual=actual, reference_acts=ref_acts,
                   reference_on=ref_on, reference_payload=ref_payload, info=info, fingerprint=net.fingerprint)


def load_dataset(path, *, network: Network | None = None) -> Dataset:
    """Read a data set file written by :meth:`Dataset.save`.

    Args:
        path: the file.
        network: the network it must belong to (its fingerprint is checked), or ``None``.

    Raises:
        CircuitsError: the path is not a regular file, not a safetensors file, not a circuits data set, of
            another format version, damaged or edited, drawn from another network than ``network``, or its
            arrays do not have the schema's shapes.

    Example:
        >>> import tempfile
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> data = ground_truth(net).dataset(8, seed=1, activations=True)
        >>> folder = tempfile.TemporaryDirectory()
        >>> back = load_dataset(data.save(folder.name + "/data.safetensors"), network=net)
        >>> back.activations.shape, back.active.shape, back.matches(net)
        (torch.Size([4, 8, 160]), (8, 2), True)
        >>> folder.cleanup()
    """
    path = require_path("path", path)
    require(network is None or isinstance(network, Network),
            f"network must be a circuits.Network or None, got {type(network).__name__}", parameter="network")
    want = None if network is None else {"network": network.fingerprint}
    arrays, info, identity = open_arrays(path, "dataset", DATASET_VERSION, identity=want)
    need = {"inputs", "active", "payloads"}
    require(need <= set(arrays), f"{path} lacks {sorted(need - set(arrays))}", parameter="path")
    inputs, active, payloads = arrays["inputs"], arrays["active"], arrays["payloads"]
    B = inputs.shape[0]
    require(inputs.ndim == 2 and active.ndim == 2 and active.shape[0] == B and payloads.shape[:2] == active.shape,
            f"{path}: inputs {inputs.shape}, active {active.shape} and payloads {payloads.shape} do not fit "
            "(B, D), (B, z), (B, z, k)", parameter="path")
    acts = arrays.get("activations")
    require(acts is None or (acts.ndim == 3 and acts.shape[1:] == inputs.shape),
            f"{path}: activations {None if acts is None else acts.shape} is not (L+1, {B}, {inputs.shape[1]})",
            parameter="path")
    on = [arrays.get(f"on.{name}") for name in ("intended", "readout", "actual")]
    require(all(a is None for a in on) or (all(a is not None for a in on) and acts is not None
                                           and on[0].shape[0] == B and on[1].shape == on[2].shape
                                           and on[1].shape[:2] == acts.shape[:2]),
            f"{path}: on.intended, on.readout and on.actual must all be present with the activations, of shapes "
            f"(B, T) and (L+1, B, T)", parameter="path")
    return Dataset(inputs=torch.from_numpy(inputs), active=active, payloads=payloads,
                   activations=None if acts is None else torch.from_numpy(acts),
                   on_intended=on[0], on_readout=on[1], on_actual=on[2],
                   reference_acts=arrays.get("reference.acts"), reference_on=arrays.get("reference.on"),
                   reference_payload=arrays.get("reference.payload"), info=info,
                   fingerprint=str((identity or {}).get("network", "")))

