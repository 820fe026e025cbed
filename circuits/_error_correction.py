"""Optional error correction of the on-indicator: what more can be spent on keeping circuits off.

An error-correction *spec* is a string: ``none`` (the default), or options joined by ``+``:

- ``redundant:K`` (K >= 2): every circuit carries K on-indicator pairs instead of one, each
  pair with its own 2-ReLU step (reading the average of all K pairs); the payload's gating and
  the decoded on-indicator read their average. The circuit width grows from d to d + 2(K-1),
  so at a fixed network width D there are fewer neuron slots D/d.
- ``cleanup``: between two computation layers, a clean-up layer that re-applies the step to
  the on-indicator and copies every other neuron through, gated by the on-indicator
  (``a_i' = ReLU(a_i + |b_i| (alpha - 1))``, the identity for an active circuit). L computation
  layers become 2L - 1 network layers; computation layer l is network layer 2l - 1
  (:func:`computation_layers`). Evaluation tables and the failure rate count every network
  layer, clean-up layers included.
- ``tuned-chi``: a multiplier on chi (``build(..., chi_scale=...)``) chosen by a short seeded
  search on a calibration batch (:data:`CHI_GRID`, :func:`tune_chi`) to minimise the failure
  rate; needs the number of active circuits z to calibrate for.
- ``step:A`` (0 < A < 1/2): the on-indicator step ``ReLU(k (alpha - A)) - ReLU(k (alpha - A) - 1)``
  with ``k = 1 / (1 - 2A)``: it maps alpha <= A to exactly 0 and alpha >= 1 - A to exactly 1
  (the study's step is ``step:0.25``). Costs nothing: same width, same depth.

Options apply in the order step, redundant, cleanup (to the family), then tuned-chi (to the
network); :attr:`ErrorCorrection.spec` writes them in that order. Every option maps a
clean run to itself, so circuits that share no neuron (``T S <= D/d``) are still computed
exactly.

Cross-circuit edges (a :class:`circuits.CircuitGraph`) go through
:func:`graph_with_error_correction` (``build_with_error_correction(..., graph=g)`` does it):
``redundant:K`` re-lays each block out onto the wider circuits, ``cleanup`` moves an edge at
computation layer l to network layer 2l - 1; ``step:A`` and ``cleanup`` refuse, naming the
option, edges that write into the on-neurons (and ``step:A`` edges that read them other than
through their difference). Do not pass the base graph to ``build`` with a corrected family:
its edges would sit at the wrong layers or widths.

The family-level options need a family whose on-indicator is a 2-ReLU step: two on-neurons
``(o0, o1)`` whose rows read only ``k (a_o0 - a_o1)`` (biases ``-c``, ``-c - 1``), every other row
reading the on-neurons only through ``a_o0 - a_o1``, and ``decode_on = a_o0 - a_o1`` (the
``rotation`` and ``step`` families; not ``rotation-3``).

What each can do, from the construction (figure ``error-correction`` measures it):

- A neuron shared with an active circuit gives an inactive circuit's read-out 1/S; with z
  active circuits an inactive one can read z/S at layer 1, before any step acts, so under the
  0.25 failure threshold no option here helps z >= 2 unless S > 4z.
- From layer 2 on, a neuron that no active circuit owns receives ``(n (1 + chi) - chi m) / S``
  on its on-indicator, n being how many of the m active neurons of the previous layer its
  row of the capped pattern C covers. ``step:A`` zeroes it up to A instead of 0.25, and a
  larger chi raises the n it takes; but chi also takes ``chi (z - 1)`` off the active
  circuits' own on-indicator, which the step restores only down to ``1 - A`` (so chi can grow
  freely at z = 1 only). A neuron whose C row covers all S neurons of an active circuit
  looks exactly like one of its own, whatever chi and A.
- ``redundant:K`` cannot average noise away: every group uses the same neuron sets, so the K
  pairs see the same interference and carry identical values; it only costs slots.
- ``cleanup`` layers are built like any other layer, so each adds its own interference.

Example:
    >>> from circuits import parse_error_correction
    >>> parse_error_correction("cleanup+redundant:2").spec
    'redundant:2+cleanup'
    >>> parse_error_correction("step:0.4").margin
    0.4
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ._errors import CircuitsError, require, require_int
from ._families import CircuitFamily

#: The option names a spec may use, with what each takes.
ERROR_CORRECTIONS = {
    "none": "no error correction (the default)",
    "redundant:K": "K on-indicator pairs per circuit, K >= 2 (circuit width d + 2(K-1))",
    "cleanup": "a clean-up layer between computation layers (L computation layers -> 2L - 1 layers)",
    "tuned-chi": "chi multiplier chosen by a seeded search on a calibration batch",
    "step:A": "on-indicator step that zeroes alpha <= A and maps alpha >= 1 - A to 1, 0 < A < 1/2",
}

#: Multipliers of chi that ``tuned-chi`` tries, the default (1) first so that it wins ties.
CHI_GRID = (1.0, 0.0, 0.5, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0)

#: Forward passes in the calibration batch of ``tuned-chi``.
CALIBRATION_BATCH = 200

#: The study's step: zeroes alpha <= 0.25.
BASE_STEP = 0.25


@dataclass(frozen=True)
class ErrorCorrection:
    """A parsed error-correction spec (see the module docstring).

    Attributes:
        redundant: K, on-indicator pairs per circuit (1: the family's own single pair).
        cleanup: whether clean-up layers sit between computation layers.
        tuned_chi: whether chi's multiplier is tuned on a calibration batch.
        step: A of the on-indicator step ``step:A`` (``None``: the family's own step).
    """

    redundant: int = 1
    cleanup: bool = False
    tuned_chi: bool = False
    step: float | None = None

    @property
    def spec(self) -> str:
        """The canonical spec string (``"none"`` when nothing is on)."""
        parts = []
        if self.step is not None:
            parts.append(f"step:{self.step:g}")
        if self.redundant > 1:
            parts.append(f"redundant:{self.redundant}")
        if self.cleanup:
            parts.append("cleanup")
        if self.tuned_chi:
            parts.append("tuned-chi")
        return "+".join(parts) or "none"

    @property
    def changes_family(self) -> bool:
        """Whether any option rewrites the small circuits."""
        return self.step is not None or self.redundant > 1 or self.cleanup

    @property
    def margin(self) -> float:
        """The largest on-indicator error the step corrects: A for ``step:A``, else 0.25.

        (For the family's own step this assumes it is the study's step.)
        """
        return BASE_STEP if self.step is None else self.step

    def network_layers(self, n_layers: int) -> int:
        """Network layers for ``n_layers`` computation layers (2L - 1 with clean-up)."""
        return 2 * n_layers - 1 if self.cleanup else n_layers

    def circuit_width(self, base_width: int) -> int:
        """d of the corrected circuits for circuits of width ``base_width``."""
        return base_width + 2 * (self.redundant - 1)


def parse_error_correction(spec) -> ErrorCorrection:
    """Parse ``"none"``, ``"redundant:K"``, ``"cleanup"``, ``"tuned-chi"``, ``"step:A"`` or a ``+`` join.

    An :class:`ErrorCorrection` is returned unchanged.

    Raises:
        CircuitsError: unknown name, bad K or A, an option given twice, ``none`` combined.

    Example:
        >>> parse_error_correction("none").spec, parse_error_correction("tuned-chi+step:0.45").spec
        ('none', 'step:0.45+tuned-chi')
        >>> parse_error_correction("redundant:1")
        Traceback (most recent call last):
        ...
        circuits._errors.CircuitsError: error correction redundant:K needs an integer K >= 2 (K = 1 is the default, write none), got 'redundant:1'
    """
    if isinstance(spec, ErrorCorrection):
        return spec
    require(isinstance(spec, str) and spec.strip() != "",
            f"error correction must be a non-empty string such as 'none' or 'redundant:2+cleanup', got {spec!r}")
    parts = [p.strip() for p in spec.strip().lower().split("+")]
    allowed = ", ".join(ERROR_CORRECTIONS)
    if parts == ["none"]:
        return ErrorCorrection()
    fields, seen = {}, set()
    for part in parts:
        name, _, arg = part.partition(":")
        require(name != "none", f"error correction 'none' cannot be combined with other options, got {spec!r}")
        require(name not in seen, f"error correction option {name!r} is given twice in {spec!r}")
        seen.add(name)
        if name == "redundant":
            try:
                k = int(arg)
            except ValueError:
                k = None
            require(k is not None and k >= 2 and str(k) == arg,
                    f"error correction redundant:K needs an integer K >= 2 (K = 1 is the default, write none), "
                    f"got {part!r}")
            fields["redundant"] = k
        elif name == "step":
            try:
                a = float(arg)
            except ValueError:
                a = math.nan
            require(0 < a < 0.5, f"error correction step:A needs a number A with 0 < A < 0.5 (the step zeroes "
                                 f"alpha <= A; 0.25 is the default step), got {part!r}")
            fields["step"] = a
        elif name in ("cleanup", "tuned-chi") and not arg:
            fields[name.replace("-", "_")] = True
        else:
            raise CircuitsError(f"error correction must be {allowed}, or several joined by '+'; "
                                f"got {part!r} in {spec!r}")
    return ErrorCorrection(**fields)


# ----------------------------------------------------------------- the family transformations
def _all_layers(family: CircuitFamily, n_layers: int | None):
    """``(mean (L, d, d), diff (L, T, d, d))`` of layers 1..L (L: the family's own, or ``n_layers``)."""
    if family.per_layer:
        L = family.diff_w.shape[0] if n_layers is None else n_layers
        require(L <= family.diff_w.shape[0],
                f"n_layers must be <= {family.diff_w.shape[0]} (the family's layers), got {L}")
    else:
        L = 1 if n_layers is None else n_layers
    pairs = [family.layer_weights(layer) for layer in range(1, L + 1)]
    return np.stack([m for m, _ in pairs]), np.stack([w for _, w in pairs])


def step_neurons(family: CircuitFamily) -> tuple[int, int]:
    """The on-neurons ``(o0, o1)`` of a family whose on-indicator is a 2-ReLU step.

    Checks, in every layer and for every circuit, that rows ``o0``, ``o1`` read only
    ``k (a_o0 - a_o1)`` with the same ``k > 0``, that their biases are ``-c`` and ``-c - 1``,
    that every other row reads the on-neurons only through ``a_o0 - a_o1``, and that
    ``decode_on`` is ``a_o0 - a_o1``.

    Raises:
        CircuitsError: naming the first check that fails.
    """
    name = family.name
    require(len(family.on_neurons) == 2,
            f"error correction needs a 2-ReLU step on-indicator (two on-neurons); the {name!r} family has "
            f"on_neurons {family.on_neurons}")
    o0, o1 = family.on_neurons
    d = family.circuit_width
    mean, diff = _all_layers(family, None)  # (L, d, d), (L, T, d, d)

    def rows(i, cols):  # w[:, :, i, cols] of every layer and circuit, (L, T, len(cols))
        return mean[:, None, i, cols] + diff[:, :, i, cols]

    every = list(range(d))
    k = mean[0, o0, o0] + diff[0, 0, o0, o0]
    row = np.zeros(d)
    row[o0], row[o1] = k, -k
    require(k > 0 and bool(np.all(rows(o0, every) == row)) and bool(np.all(rows(o1, every) == row)),
            f"error correction needs a 2-ReLU step on-indicator: rows {o0}, {o1} of the {name!r} family must read "
            f"only k (a{o0} - a{o1}) with one k > 0")
    b = family.bias
    require(b[o1] == b[o0] - 1, f"error correction needs a 2-ReLU step: biases of neurons {o0}, {o1} must be "
                                f"-c and -c - 1; the {name!r} family has {b[o0]}, {b[o1]}")
    others = [i for i in range(d) if i not in (o0, o1)]
    require(all(bool(np.all(rows(i, [o0]) == -rows(i, [o1]))) for i in others),
            f"error correction needs every other row of the {name!r} family to read the on-neurons only "
            f"through a{o0} - a{o1}")
    probe = np.asarray(family.decode_on(np.eye(d)), dtype=np.float64)
    want = np.zeros(d)
    want[o0], want[o1] = 1.0, -1.0
    require(probe.shape == (d,) and np.array_equal(probe, want) and float(family.decode_on(np.zeros(d))) == 0.0,
            f"error correction needs decode_on = a{o0} - a{o1}; the {name!r} family decodes otherwise")
    return o0, o1


def _with_step(family: CircuitFamily, threshold: float) -> CircuitFamily:
    """The family with the on-indicator step ``ReLU(k (alpha - A)) - ReLU(k (alpha - A) - 1)``, k = 1/(1-2A).

    Only the on-rows' weights and biases change; inputs and decoders stay (everything reads
    the on-neurons through their difference, which is 1 for an active circuit either way).
    """
    o0, o1 = family.on_neurons
    k = 1.0 / (1.0 - 2.0 * threshold)
    mean = np.array(family.mean_w, dtype=np.float64)
    for o in (o0, o1):
        mean[..., o, :] = 0.0
        mean[..., o, o0], mean[..., o, o1] = k, -k
    bias = np.array(family.bias, dtype=np.float64)
    bias[o0], bias[o1] = -k * threshold, -k * threshold - 1.0
    return replace(family, mean_w=mean, bias=bias)


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


def _with_redundant(family: CircuitFamily, copies: int) -> CircuitFamily:
    """The family with ``copies`` on-indicator pairs: the family's own, then ``copies - 1`` appended.

    Every pair's step reads the average of the pairs' ``alpha``; every other row reads that
    average where it read ``alpha``; ``decode_on`` is the average; ``decode_payload`` sees the
    average in place of the first pair's ``alpha``. Width ``d + 2 (copies - 1)``.
    """
    o0, o1 = family.on_neurons
    d = family.circuit_width
    K = copies
    p0, p1 = _pairs(family.on_neurons, d, K)
    bias = np.concatenate([family.bias, np.tile(family.bias[[o0, o1]], K - 1)])
    base_encode, base_decode = family.encode_payload, family.decode_payload

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

    return replace(family, mean_w=_widen(family.mean_w, (o0, o1), K), diff_w=_widen(family.diff_w, (o0, o1), K),
                   bias=bias, on_neurons=(o0, o1), encode_payload=encode, decode_on=decode_on,
                   decode_payload=decode_payload)


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


def _with_cleanup(family: CircuitFamily, n_layers: int) -> CircuitFamily:
    """The family with a clean-up layer after each of computation layers 1..L-1 (2L - 1 layers)."""
    n_layers = require_int("n_layers", n_layers, 1)
    mean, diff = _all_layers(family, n_layers)
    clean = _cleanup_weights(family)
    L2 = 2 * n_layers - 1
    T, d = family.n_circuits, family.circuit_width
    new_mean = np.empty((L2, d, d))
    new_diff = np.zeros((L2, T, d, d))
    new_mean[0::2], new_diff[0::2] = mean, diff
    new_mean[1::2] = clean
    return replace(family, mean_w=new_mean, diff_w=new_diff)


def with_error_correction(family: CircuitFamily, error_correction="none", *, n_layers: int | None = None
                          ) -> CircuitFamily:
    """The family with the family-level options of a spec applied (``tuned-chi`` is left to the build).

    Args:
        family: circuits with a 2-ReLU step on-indicator (see :func:`step_neurons`) unless the
            spec is ``none`` or ``tuned-chi`` alone.
        error_correction: a spec string or :class:`ErrorCorrection`.
        n_layers: L, computation layers; needed with ``cleanup`` (the result has ``2L - 1``
            layers of per-layer weights ``(2L-1, T, d, d)``).

    Returns:
        a new :class:`CircuitFamily` (``family`` itself when no option changes it), whose
        ``params["error_correction"]`` holds the canonical spec. Cross-circuit edges of
        ``family`` need :func:`graph_with_error_correction` with the same spec.

    Example:
        >>> from circuits import rotation_circuits
        >>> fam = with_error_correction(rotation_circuits(5, seed=0), "redundant:3+cleanup", n_layers=4)
        >>> fam.circuit_width, fam.diff_w.shape, fam.params["error_correction"]
        (8, (7, 5, 8, 8), 'redundant:3+cleanup')
    """
    ec = parse_error_correction(error_correction)
    if not ec.changes_family:
        return family
    require(not (ec.cleanup and n_layers is None), "error correction cleanup needs n_layers (computation layers)")
    step_neurons(family)
    out = family
    if ec.step is not None:
        out = _with_step(out, ec.step)
    if ec.redundant > 1:
        out = _with_redundant(out, ec.redundant)
    if ec.cleanup:
        out = _with_cleanup(out, n_layers)
    spec = replace(ec, tuned_chi=False).spec
    return replace(out, params={**family.params, "error_correction": spec})


def graph_with_error_correction(graph, family: CircuitFamily, error_correction="none", *,
                                n_layers: int | None = None):
    """Cross-circuit edges of ``family`` re-laid out for ``with_error_correction(family, spec)``.

    What each option does to an edge ``(l, u, t, B)`` (see ``circuits/_graph.py``):

    - ``step:A``: ``B`` unchanged. The step changes the on-neurons ``a_o0``, ``a_o1`` one by one
      (keeping ``a_o0 - a_o1``), so the edge must read them only through ``a_o0 - a_o1``
      (``B[:, o0] == -B[:, o1]``) and write nothing into them (``B[o0] == B[o1] == 0``).
    - ``redundant:K``: ``B`` re-laid out onto the ``d + 2(K-1)`` neurons as the family's weights
      are: a column of the first on-pair is spread ``/K`` over the K pairs (they carry the same
      values in a clean run), the added on-neurons' rows copy the first pair's rows (zero when
      the edge writes no on-neuron). Any edge.
    - ``cleanup``: the edge moves from computation layer ``l`` to network layer ``2l - 1``; it
      then reads network layer ``2l - 2``, the clean-up of computation layer ``l - 1``, which a
      clean run leaves unchanged. Clean-up layers carry no edges. The clean-up recomputes the
      on-neurons from ``alpha`` alone, so the edge must write nothing into them; and the
      clean-up passes zero through but lowers a non-zero value of an inactive circuit, so the
      run is exact when, as the graph semantics ask, an inactive receiver stays at zero (true of
      :func:`circuits.rotation_chains`).
    - ``tuned-chi``: nothing (it changes the network, not the circuits).

    With these the corrected network with edges maps a clean run of the small system with its
    edges to itself, read at :func:`computation_layers`.

    Args:
        graph: a :class:`circuits.CircuitGraph` of ``family`` (``None``: none).
        family: the base circuits (a 2-ReLU step on-indicator, see :func:`step_neurons`, unless
            no family-level option is on).
        error_correction: a spec string or :class:`ErrorCorrection`.
        n_layers: L, computation layers; when given, the graph is checked against it.

    Returns:
        the corrected :class:`circuits.CircuitGraph` (``graph`` itself when no option changes it).

    Raises:
        CircuitsError: the graph does not fit ``family``, or an edge breaks what an option
            needs (the message names the option and the edge).

    Example:
        >>> from circuits import rotation_chains
        >>> fam, g = rotation_chains(6, chain_length=3, seed=0)
        >>> g2 = graph_with_error_correction(g, fam, "redundant:2+cleanup", n_layers=3)
        >>> g.layer.tolist(), g2.layer.tolist(), g2.block.shape
        ([2, 3, 2, 3], [3, 5, 3, 5], (4, 6, 6))
    """
    from ._graph import CircuitGraph, check_graph

    ec = parse_error_correction(error_correction)
    if graph is None:
        return None
    check_graph(graph, family, n_layers if n_layers is not None else graph.max_layer)
    if not ec.changes_family:
        return graph
    o0, o1 = step_neurons(family)
    block, layer = graph.block, graph.layer

    def refuse(option, bad, what):
        e = int(np.nonzero(bad)[0][0])
        raise CircuitsError(
            f"error correction {option} cannot carry this graph: edge {e} (layer {int(layer[e])}, receiver "
            f"{int(graph.receiver[e])}, sender {int(graph.sender[e])}) {what}")

    if ec.step is not None or ec.cleanup:
        writes = np.any(block[:, [o0, o1], :] != 0, axis=(1, 2))
        if writes.any():
            refuse("step:A" if ec.step is not None else "cleanup", writes,
                   f"writes into the receiver's on-neurons {o0}, {o1}, which the "
                   f"{'step' if ec.step is not None else 'clean-up layer'} recomputes from alpha alone")
    if ec.step is not None:
        apart = np.any(block[:, :, o0] != -block[:, :, o1], axis=1)
        if apart.any():
            refuse("step:A", apart, f"reads the sender's on-neurons {o0}, {o1} other than through a{o0} - a{o1} "
                                    "(the step changes them one by one)")
    if ec.redundant > 1:
        block = _widen(block, (o0, o1), ec.redundant)
    if ec.cleanup:
        layer = 2 * layer - 1
    return CircuitGraph(graph.n_circuits, ec.circuit_width(graph.circuit_width), layer=layer,
                        receiver=graph.receiver, sender=graph.sender, block=block)


def computation_layers(net) -> tuple[int, ...]:
    """Network layers that are computation layers (all of them, unless the family has clean-up layers).

    Example:
        >>> from circuits import build, rotation_circuits
        >>> net = build_with_error_correction(rotation_circuits(10, seed=0), "cleanup", width=400,
        ...                                   redundancy=2, n_layers=3, seed=0)
        >>> net.n_layers, computation_layers(net)
        (5, (1, 3, 5))
    """
    spec = parse_error_correction(net.family.params.get("error_correction", "none"))
    return tuple(range(1, net.n_layers + 1, 2 if spec.cleanup else 1))


# ------------------------------------------------------------------------------ tuned chi
def calibration_seed(seed: int) -> int:
    """The seed of ``tuned-chi``'s calibration batch, derived from the build seed."""
    return int(np.random.SeedSequence([int(seed), 0xEC]).generate_state(1)[0])


def tune_chi(family: CircuitFamily, *, n_active: int, width: int, redundancy: int, n_layers: int, seed: int,
             chi_scale: float = 1.0, assignment: str = "prime-step", device: str = "cpu",
             batch_size: int = CALIBRATION_BATCH, threshold: float | None = None, graph=None):
    """Choose chi's multiplier from :data:`CHI_GRID` on a calibration batch.

    Every candidate ``chi_scale * m`` builds the network (same ``seed``, so the same
    assignment) and evaluates the same ``batch_size`` calibration passes (seed
    :func:`calibration_seed`; common random numbers, so differences are the candidates'),
    and the one with the lowest failure rate wins. Ties are broken by the failure rate over
    layers 2..L alone (chi acts from layer 2 on, so failures at layer 1, which no candidate
    changes, cannot mask a difference there), then by the on-indicator MSE of the active plus
    that of the inactive circuits averaged over layers 1..L (so that where every candidate fails
    on every pass, one that switches the active circuits off does not win), then by grid order
    (1 first).

    Args:
        family: the (already corrected) circuits.
        n_active: z to calibrate for.
        width, redundancy, n_layers, seed, assignment, device: as for :func:`circuits.build`
            (``n_layers``: network layers).
        chi_scale: the multiplier's base.
        batch_size: calibration passes.
        threshold: on-indicator error that counts as a failure (default 0.25).
        graph: cross-circuit edges of ``family`` (already corrected), built into every candidate.

    Returns:
        ``(best chi_scale, rows)`` with ``rows`` ``((chi_scale, failure rate, failure rate at
        layers 2..L, on-indicator MSE), ...)`` in :data:`CHI_GRID` order.
    """
    from ._boundary import failure_rate
    from ._builder import build
    from ._evaluate import SEIZURE_THRESHOLD, evaluate

    threshold = SEIZURE_THRESHOLD if threshold is None else threshold
    cal_seed = calibration_seed(seed)
    rows = []
    for m in CHI_GRID:
        net = build(family, width=width, redundancy=redundancy, n_layers=n_layers, seed=seed,
                    chi_scale=chi_scale * m, assignment=assignment, device=device, graph=graph)
        ev = evaluate(net, n_active=n_active, batch_size=batch_size, seed=cal_seed)
        worst = np.asarray(ev.sample_worst_on)
        later = float(np.mean(worst[2:].max(axis=0) > threshold)) if n_layers >= 2 else 0.0
        on = ev.table[(ev.table.stat == "mse") & (ev.table.quantity == "on")]
        on_mse = float(on.groupby("group").measured.mean().sum())
        rows.append((chi_scale * m, failure_rate(ev, threshold), later, on_mse))
    best = min(range(len(rows)), key=lambda i: (*rows[i][1:], i))
    return rows[best][0], tuple(rows)


def build_with_error_correction(family: CircuitFamily, error_correction="none", *, width: int, redundancy: int,
                                n_layers: int, seed, method: str = "capped", chi_scale: float = 1.0,
                                assignment: str = "prime-step", device: str = "cpu", n_active: int | None = None,
                                calibration_batch: int = CALIBRATION_BATCH, threshold: float | None = None,
                                graph=None):
    """:func:`circuits.build` with an error-correction spec.

    Args:
        family: the base circuits.
        error_correction: a spec (module docstring) or :class:`ErrorCorrection`.
        width: D. With ``redundant:K`` the circuit width is ``d' = d + 2(K-1)`` and the network
            uses the largest multiple of ``d'`` not above D (``net.width`` says which), so no
            option gets more neurons than asked for.
        redundancy, seed, method, chi_scale, assignment, device: as for :func:`circuits.build`.
        n_layers: L, computation layers (the network has ``2L - 1`` layers with ``cleanup``).
        n_active: z to calibrate ``tuned-chi`` for (required with it).
        calibration_batch: passes in ``tuned-chi``'s calibration batch.
        threshold: the on-indicator error that ``tuned-chi`` counts as a failure (default 0.25).
        graph: cross-circuit edges of the base ``family`` (edges at computation layers
            ``2..L``), or ``None``; re-laid out for the options by
            :func:`graph_with_error_correction` (which refuses an option the edges break).

    Returns:
        :class:`circuits.Network` (with the corrected graph as ``net.graph``); its family's
        ``params["error_correction"]`` is the canonical
        spec, and with ``tuned-chi`` its ``config.chi_scale`` is the multiplier chosen.

    Example:
        >>> from circuits import rotation_circuits, evaluate
        >>> net = build_with_error_correction(rotation_circuits(40, seed=0), "redundant:2", width=1000,
        ...                                   redundancy=6, n_layers=3, seed=0)
        >>> net.width, net.circuit_width, net.n_slots
        (996, 6, 166)
    """
    from ._builder import METHODS, build

    ec = parse_error_correction(error_correction)
    n_layers = require_int("n_layers", n_layers, 1)
    if ec.tuned_chi:
        require(method == "capped", f"error correction tuned-chi needs method 'capped' (the others have no chi), "
                                    f"got {method!r}")
        require(n_active is not None, "error correction tuned-chi needs n_active (the z to calibrate for)")
        require(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool),
                f"error correction tuned-chi needs an integer seed, got {seed!r}")
        calibration_batch = require_int("calibration_batch", calibration_batch, 1)
    elif method not in METHODS:
        raise CircuitsError(f"method must be one of {list(METHODS)}, got {method!r}")
    fam = with_error_correction(family, ec, n_layers=n_layers)
    graph = graph_with_error_correction(graph, family, ec, n_layers=n_layers)
    d = fam.circuit_width
    width = require_int("width", width, d)
    if ec.redundant > 1:
        width -= width % d
    layers = ec.network_layers(n_layers)
    if ec.tuned_chi:
        n_active = require_int("n_active", n_active, 1, fam.n_circuits)
        chi_scale, _ = tune_chi(fam, n_active=n_active, width=width, redundancy=redundancy, n_layers=layers,
                                seed=seed, chi_scale=chi_scale, assignment=assignment, device=device,
                                batch_size=calibration_batch, threshold=threshold, graph=graph)
    if ec.spec != "none":
        fam = replace(fam, params={**family.params, "error_correction": ec.spec})
    return build(fam, width=width, redundancy=redundancy, n_layers=layers, seed=seed, method=method,
                 chi_scale=chi_scale, assignment=assignment, device=device, graph=graph)
