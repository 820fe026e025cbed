"""Error correction of the on-indicator: each option is a transform of the small system.

An error-correction *spec* is a string: ``none`` (the default), or options joined by ``+``:

- ``step:A`` (0 < A < 1/2): the on-indicator step ``ReLU(k (alpha - A)) - ReLU(k (alpha - A) - 1)``
  with ``k = 1 / (1 - 2A)``: it maps alpha <= A to exactly 0 and alpha >= 1 - A to exactly 1
  (the study's step is ``step:0.25``). Same width, same depth.
- ``redundant:K`` (K >= 2): every circuit carries K on-indicator pairs instead of one, each
  pair with its own 2-ReLU step (reading the average of all K pairs); the payload's gating and
  the decoded on-indicator read their average. The circuit width grows from d to d + 2(K-1),
  so a network of width D has fewer neuron slots D/d (the width must be a multiple of the
  new d: nothing changes D behind the user's back).
- ``cleanup``: between two computation layers, a clean-up layer that re-applies the step to
  the on-indicator and copies every other neuron through, gated by the on-indicator
  (``a_i' = ReLU(a_i + |b_i| (alpha - 1))``, the identity for an active circuit). L computation
  layers become 2L - 1 network layers; the system's ``layer_roles`` say which is which.
- ``tuned-chi``: a multiplier on chi chosen by a short seeded search on a calibration batch
  when a network is built (``circuits/experiments/_experiment.py``); the system itself is unchanged.

Each option is one :class:`circuits.system._corrections.CorrectionOption` subclass in :data:`ERROR_CORRECTIONS`:
it parses its argument, says how it changes the circuit width, the number of network layers
and the corrected on-indicator error, and transforms a :class:`circuits.SmallSystem` (family,
couplings and layer roles together). Options apply in their ``order`` (step, redundant,
cleanup, tuned-chi), and :attr:`ErrorCorrection.spec` writes them in that order. Every option
maps a clean run to itself, so circuits that share no neuron are still computed exactly.

The options that rewrite circuits need a family whose on-indicator is a 2-ReLU step: two
on-neurons ``(o0, o1)`` whose rows read only ``k (a_o0 - a_o1)`` (biases ``-c``, ``-c - 1``), every
other row reading the on-neurons only through ``a_o0 - a_o1``, and ``decode_on = a_o0 - a_o1``
(the ``rotation`` systems and ``step``; not ``rotation-3``).

What each can do, from the construction (figure ``error-correction`` measures it):

- From layer 2 on, a neuron that no active circuit owns receives ``(n (1 + chi) - chi m) / S``
  on its on-indicator, n being how many of the m active neurons of the previous layer its
  row of the capped pattern C covers. ``step:A`` zeroes it up to A instead of 0.25, and a
  larger chi raises the n it takes; but chi also takes ``chi (z - 1)`` off the active
  circuits' own on-indicator, which the step restores only down to ``1 - A``.
- ``redundant:K`` cannot average noise away: every group uses the same neuron sets, so the K
  pairs see the same interference and carry identical values; it only costs slots.
- ``cleanup`` layers are built like any other layer, so each adds its own interference.

Example:
    >>> parse_error_correction("cleanup+redundant:2").spec
    'redundant:2+cleanup'
    >>> parse_error_correction("step:0.4").margin
    0.4
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._corrections import CorrectionOption, ErrorCorrection
from ..base import CircuitsError, Registry, require, require_int
from ._families import CircuitFamily, all_layer_weights as _all_layers, step_neurons
from ._system import CLEANUP, COMPUTATION, SmallSystem


# ------------------------------------------------------------------------------ helpers
def _refuse_edges(system: SmallSystem, option: str, bad: np.ndarray, what: str) -> None:
    """Refuse, naming the first edge in ``bad``, couplings that ``option`` cannot carry."""
    if not bad.any():
        return
    g = system.couplings
    e = int(np.nonzero(bad)[0][0])
    raise CircuitsError(
        f"error correction {option} cannot carry these couplings: edge {e} (layer {int(g.layer[e])}, receiver "
        f"{int(g.receiver[e])}, sender {int(g.sender[e])}) {what}", parameter="error_correction")


def _refuse_writes_on(system: SmallSystem, option: str, on: tuple[int, int], why: str) -> None:
    """Refuse edges that write into the receiver's on-neurons."""
    if system.couplings is None:
        return
    block = system.couplings.block
    _refuse_edges(system, option, np.any(block[:, list(on), :] != 0, axis=(1, 2)),
                  f"writes into the receiver's on-neurons {on[0]}, {on[1]}, which {why}")


# ------------------------------------------------------------------------------ options
class Step(CorrectionOption):
    """``step:A``: the on-indicator step that zeroes alpha <= A and maps alpha >= 1 - A to 1.

    Only the on-rows' weights and biases change; inputs and decoders stay (everything reads
    the on-neurons through their difference, which is 1 for an active circuit either way).
    Edges must read the on-neurons only through their difference and write nothing into them.
    """

    name, order, argument = "step", 0, "A"
    help = "on-indicator step that zeroes alpha <= A and maps alpha >= 1 - A to 1, 0 < A < 1/2"

    def __init__(self, threshold: float):
        self.threshold = float(threshold)

    @classmethod
    def parse(cls, arg: str | None, part: str) -> "Step":
        try:
            a = float(arg if arg is not None else "nan")
        except ValueError:
            a = math.nan
        require(0 < a < 0.5, f"error correction step:A needs a number A with 0 < A < 0.5 (the step zeroes "
                             f"alpha <= A; 0.25 is the default step), got {part!r}", parameter="error_correction")
        return cls(a)

    @property
    def text(self) -> str:
        return f"step:{self.threshold:g}"

    def margin(self, margin: float) -> float:
        return self.threshold

    def apply(self, system: SmallSystem, n_layers: int, on: tuple[int, int]) -> SmallSystem:
        fam = system.family
        o0, o1 = on
        _refuse_writes_on(system, "step:A", (o0, o1), "the step recomputes from alpha alone")
        if system.couplings is not None:
            block = system.couplings.block
            _refuse_edges(system, "step:A", np.any(block[:, :, o0] != -block[:, :, o1], axis=1),
                          f"reads the sender's on-neurons {o0}, {o1} other than through a{o0} - a{o1} "
                          "(the step changes them one by one)")
        k = 1.0 / (1.0 - 2.0 * self.threshold)
        mean = np.array(fam.mean_w, dtype=np.float64)
        for o in (o0, o1):
            mean[..., o, :] = 0.0
            mean[..., o, o0], mean[..., o, o1] = k, -k
        bias = np.array(fam.bias, dtype=np.float64)
        bias[o0], bias[o1] = -k * self.threshold, -k * self.threshold - 1.0
        return system.with_changes(family=replace(fam, mean_w=mean, bias=bias))


def _pairs(on_neurons: tuple[int, int], d: int, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``copies`` on-indicator pairs ``(p0, p1)`` of ``redundant:K``: the family's own, then ``d + 2j, d + 2j + 1``."""
    o0, o1 = on_neurons
    return (np.array([o0] + [d + 2 * j for j in range(copies - 1)]),
            np.array([o1] + [d + 2 * j + 1 for j in range(copies - 1)]))


def _widen(w: np.ndarray, on_neurons: tuple[int, int], copies: int) -> np.ndarray:
    """``(..., d, d)`` weights re-laid out for ``copies`` on-indicator pairs: ``(..., d', d')``, ``d' = d + 2(K-1)``.

    Every row reads the average of the pairs where it read the first pair (each pair's column
    gets the old column / K); the new pairs' rows copy the first pair's rows. In a run where
    every pair carries the first pair's values this computes what ``w`` computed.
    """
    o0, o1 = on_neurons
    d = w.shape[-1]
    p0, p1 = _pairs(on_neurons, d, copies)
    dd = d + 2 * (copies - 1)
    out = np.zeros(w.shape[:-2] + (dd, dd))
    out[..., :d, :d] = w
    col0, col1 = out[..., :, o0].copy(), out[..., :, o1].copy()  # how each row reads the pair
    out[..., :, p0] = col0[..., None] / copies
    out[..., :, p1] = col1[..., None] / copies
    for q0, q1 in zip(p0[1:], p1[1:]):  # the new pairs' rows copy the first pair's rows
        out[..., q0, :] = out[..., o0, :]
        out[..., q1, :] = out[..., o1, :]
    return out


class Redundant(CorrectionOption):
    """``redundant:K``: K on-indicator pairs per circuit, the family's own then K - 1 appended.

    Every pair's step reads the average of the pairs' ``alpha``; every other row reads that
    average where it read ``alpha``; ``decode_on`` is the average; ``decode_payload`` sees the
    average in place of the first pair's ``alpha``. Width ``d + 2 (K - 1)``. Edge blocks are
    re-laid out the same way (any edge can be carried).
    """

    name, order, argument = "redundant", 1, "K"
    help = "K on-indicator pairs per circuit, K in 2..64 (circuit width d + 2(K-1))"
    #: The most pairs allowed (beyond this a circuit is mostly on-indicator copies).
    MAX_COPIES = 64

    def __init__(self, copies: int):
        self.copies = int(copies)

    @classmethod
    def parse(cls, arg: str | None, part: str) -> "Redundant":
        arg = arg or ""
        k = int(arg) if arg.isdigit() and len(arg) <= 4 else None
        require(k is not None and 2 <= k <= cls.MAX_COPIES and str(k) == arg,
                f"error correction redundant:K needs an integer K in 2..{cls.MAX_COPIES} (K = 1 is the default, "
                f"write none), got {part!r}", parameter="error_correction")
        return cls(k)

    @property
    def text(self) -> str:
        return f"redundant:{self.copies}"

    def circuit_width(self, width: int) -> int:
        return width + 2 * (self.copies - 1)

    def apply(self, system: SmallSystem, n_layers: int, on: tuple[int, int]) -> SmallSystem:
        fam = system.family
        o0, o1 = on
        d, K = fam.circuit_width, self.copies
        p0, p1 = _pairs((o0, o1), d, K)
        bias = np.concatenate([fam.bias, np.tile(fam.bias[[o0, o1]], K - 1)])
        base_encode, base_decode = fam.encode_payload, fam.decode_payload

        def decode_on(a):
            a = np.asarray(a, dtype=np.float64)
            return (a[..., p0] - a[..., p1]).mean(-1)

        def encode(x):
            a = np.asarray(base_encode(x), dtype=np.float64)
            return np.concatenate([a] + [a[..., [o0, o1]]] * (K - 1), axis=-1)

        def decode_payload(a):
            a = np.asarray(a, dtype=np.float64)
            small = a[..., :d].copy()
            small[..., o0] = small[..., o1] + decode_on(a)
            return base_decode(small)

        family = replace(fam, mean_w=_widen(fam.mean_w, (o0, o1), K), diff_w=_widen(fam.diff_w, (o0, o1), K),
                         bias=bias, encode_payload=encode, decode_on=decode_on, decode_payload=decode_payload)
        couplings = system.couplings
        if couplings is not None:
            couplings = couplings.relaid(block=_widen(couplings.block, (o0, o1), K), circuit_width=d + 2 * (K - 1))
        return system.with_changes(family=family, couplings=couplings)


def _cleanup_weights(family: CircuitFamily) -> np.ndarray:
    """``(d, d)`` weights of a clean-up layer: the family's step on the on-rows, gated copies elsewhere.

    Row ``i`` not an on-neuron: ``a_i' = ReLU(a_i - b_i (alpha - 1))`` with ``b_i <= 0`` the
    family's bias and ``alpha`` read as the family reads it (the average of the pairs with
    ``redundant``), which is ``a_i`` itself for a clean active circuit (``alpha = 1``,
    ``a_i >= 0``) and 0 for an inactive one.
    """
    mean, diff = _all_layers(family, None)
    w = mean[0] + diff[0, 0]
    o0, o1 = family.on_neurons
    d = family.circuit_width
    on_cols = w[o0] != 0  # the columns the step reads: the on-pairs, with weights +-k/K
    k = w[o0, o0] * on_cols.sum() / 2  # the step's slope k: k/K on each of the K pairs
    out = np.zeros((d, d))
    for i in range(d):
        if on_cols[i]:
            out[i] = w[i]
        else:
            out[i, i] = 1.0
            out[i, on_cols] = -family.bias[i] * w[o0, on_cols] / k
    return out


class Cleanup(CorrectionOption):
    """``cleanup``: a clean-up layer after each of computation layers 1..L-1 (2L - 1 network layers).

    An edge at computation layer ``l`` moves to network layer ``2l - 1``; it then reads network
    layer ``2l - 2``, the clean-up of computation layer ``l - 1``, which a clean run leaves
    unchanged. Clean-up layers carry no edges, recompute the on-neurons from ``alpha`` alone (so
    an edge must write nothing into them), and pass zero through (an inactive receiver stays 0).
    """

    name, order = "cleanup", 2
    help = "a clean-up layer between computation layers (L computation layers -> 2L - 1 layers)"

    def network_layers(self, n_layers: int) -> int:
        return 2 * n_layers - 1

    def apply(self, system: SmallSystem, n_layers: int, on: tuple[int, int]) -> SmallSystem:
        fam = system.family
        n_layers = require_int("n_layers", n_layers, 1)
        require(system.layer_roles is None, "error correction cleanup applies to a system whose layers are all "
                                            "computation layers", parameter="error_correction")
        o0, o1 = on
        _refuse_writes_on(system, "cleanup", (o0, o1), "the clean-up layer recomputes from alpha alone")
        system.network_layers(n_layers)  # the family and couplings fit n_layers
        mean, diff = _all_layers(fam, n_layers)
        L2 = 2 * n_layers - 1
        T, d = fam.n_circuits, fam.circuit_width
        new_mean = np.empty((L2, d, d))
        new_diff = np.zeros((L2, T, d, d))
        new_mean[0::2], new_diff[0::2] = mean, diff
        new_mean[1::2] = _cleanup_weights(fam)
        couplings = system.couplings
        if couplings is not None:
            couplings = couplings.relaid(layer=2 * couplings.layer - 1)
        roles = tuple(COMPUTATION if i % 2 == 0 else CLEANUP for i in range(L2))
        return system.with_changes(family=replace(fam, mean_w=new_mean, diff_w=new_diff), couplings=couplings,
                                   layer_roles=roles)


class TunedChi(CorrectionOption):
    """``tuned-chi``: chi's multiplier chosen on a calibration batch when the network is built.

    The system is unchanged; :func:`circuits.build` (``circuits/experiments/_experiment.py``) runs
    the search for the spec's z.
    """

    name, order = "tuned-chi", 3
    help = "chi multiplier chosen by a seeded search on a calibration batch (weight schemes with chi)"

    @property
    def calibrates(self) -> bool:
        return True

    def apply(self, system: SmallSystem, n_layers: int, on: tuple[int, int] | None) -> SmallSystem:
        return system


#: The error-correction options by name: one class each.
ERROR_CORRECTIONS = Registry("error_correction", [Step, Redundant, Cleanup, TunedChi])


def parse_error_correction(spec) -> ErrorCorrection:
    """Parse ``"none"`` or options joined by ``+`` (see the module docstring).

    An :class:`ErrorCorrection` is returned unchanged.

    Raises:
        CircuitsError: unknown name, bad argument, an option given twice, ``none`` combined.

    Example:
        >>> parse_error_correction("none").spec, parse_error_correction("tuned-chi+step:0.45").spec
        ('none', 'step:0.45+tuned-chi')
        >>> parse_error_correction("redundant:1")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: error correction redundant:K needs an integer K in 2..64 (K = 1 is the default, write none), got 'redundant:1'
    """
    if isinstance(spec, ErrorCorrection):
        return spec
    require(isinstance(spec, str) and spec.strip() != "",
            f"error_correction must be a non-empty string such as 'none' or 'redundant:2+cleanup', got {spec!r}",
            parameter="error_correction")
    parts = [p.strip() for p in spec.strip().lower().split("+")]
    if parts == ["none"]:
        return ErrorCorrection()
    options = {}
    for part in parts:
        name, sep, arg = part.partition(":")
        require(name != "none", f"error correction 'none' cannot be combined with other options, got {spec!r}",
                parameter="error_correction")
        require(name not in options, f"error correction option {name!r} is given twice in {spec!r}",
                parameter="error_correction")
        if name not in ERROR_CORRECTIONS:
            raise CircuitsError(f"error_correction must be none or options joined by '+' among "
                                f"{', '.join(ERROR_CORRECTIONS)}; got {part!r} in {spec!r}", parameter="error_correction")
        options[name] = ERROR_CORRECTIONS[name].parse(arg if sep else None, part)
    return ErrorCorrection(tuple(sorted(options.values(), key=lambda o: o.order)))


def with_error_correction(system: SmallSystem, error_correction, *, n_layers: int) -> SmallSystem:
    """The system with every option of ``error_correction`` applied, in order.

    Args:
        system: a system without error correction (its ``base_width`` is the base d).
        error_correction: a spec string or :class:`ErrorCorrection`.
        n_layers: L, computation layers (``cleanup`` fixes the network layers to 2L - 1).

    Returns:
        the transformed :class:`SmallSystem` (``system`` itself for ``none``), whose
        ``error_correction`` records the options.

    Example:
        >>> from circuits import rotation_circuits
        >>> s = with_error_correction(rotation_circuits(5, seed=0), "redundant:3+cleanup", n_layers=4)
        >>> s.circuit_width, s.base_width, s.family.diff_w.shape, s.network_layers(4)
        (8, 4, (7, 5, 8, 8), 7)
    """
    ec = parse_error_correction(error_correction)
    if not ec.options:
        return system
    require(not system.error_correction.options,
            f"the system already has error correction {system.error_correction.spec!r}; apply options to the base "
            "system, all at once", parameter="error_correction")
    on = step_neurons(system.family) if ec.changes_system else None  # checked on the base circuits
    for option in ec.options:
        system = option.apply(system, n_layers, on)
    return system.with_changes(error_correction=ec)
