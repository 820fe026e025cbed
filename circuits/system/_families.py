"""Small circuits: the arrays and codecs of a family of T circuits of width d.

A circuit computes ``a[l] = ReLU(w_t[l] @ a[l-1] + bias)`` for ``l = 1..L`` with
``w_t = mean_w + diff_w[t]``. An inactive circuit has ``a[0] = 0`` and (because every bias is
<= 0) stays zero. The family also says how to encode an input, which neurons form the
on-indicator and how to decode the on-indicator and the payload from activations. A family is
one part of a :class:`circuits.SmallSystem` (which adds couplings, layer roles and activation
groups, and runs the reference); the named systems of ``circuits.SYSTEMS`` make their families
with the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base import CircuitsError, require, require_array, require_int


def _decode_two_relu_on(a: np.ndarray) -> np.ndarray:
    return a[..., 0] - a[..., 1]


def _decode_one_relu_on(a: np.ndarray) -> np.ndarray:
    return a[..., 0]


def _no_payload(a: np.ndarray) -> np.ndarray:
    return a[..., :0]


@dataclass(frozen=True, eq=False)
class CircuitFamily:
    """A family of ``T`` small circuits of width ``d``.

    Attributes:
        name: registry name (``"rotation"``, ``"rotation-3"``, ``"step"``, ``"custom"``).
        mean_w: shared weights, shape ``(d, d)`` or per layer ``(L, d, d)``.
        diff_w: per-circuit weights minus the shared part, ``(T, d, d)`` or ``(L, T, d, d)``.
        bias: shared bias, shape ``(d,)``, every entry <= 0.
        on_neurons: indices of the neurons that carry the on-indicator.
        payload_neurons: indices of the neurons that carry the payload (may be empty).
        payload_dim: size of the decoded payload vector (0 for none).
        encode_payload: maps payloads ``(..., payload_dim)`` to active inputs ``(..., d)``.
        decode_on: maps activations ``(..., d)`` to the on-indicator ``(...)``.
        decode_payload: maps activations ``(..., d)`` to payloads ``(..., payload_dim)``.
    """

    name: str
    mean_w: np.ndarray
    diff_w: np.ndarray
    bias: np.ndarray
    on_neurons: tuple[int, ...]
    payload_neurons: tuple[int, ...]
    payload_dim: int
    encode_payload: Callable[[np.ndarray], np.ndarray]
    decode_on: Callable[[np.ndarray], np.ndarray]
    decode_payload: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self):
        validate_family(self)

    @property
    def n_circuits(self) -> int:
        """T, the number of circuits."""
        return self.diff_w.shape[-3]

    @property
    def circuit_width(self) -> int:
        """d, the width of every circuit."""
        return self.bias.shape[0]

    @property
    def per_layer(self) -> bool:
        """Whether the weights differ per layer (then ``diff_w`` is ``(L, T, d, d)``)."""
        return self.diff_w.ndim == 4

    @property
    def n_weight_layers(self) -> int | None:
        """L of a per-layer family (its weights fix the number of layers), else ``None`` (any L)."""
        return self.diff_w.shape[0] if self.per_layer else None

    def layer_weights(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mean_w, diff_w)`` of computation step ``layer`` (1-based): ``(d, d)``, ``(T, d, d)``."""
        if self.per_layer:
            require(1 <= layer <= self.diff_w.shape[0],
                    f"layer must be in 1..{self.diff_w.shape[0]} for this family, got {layer}")
            mean = self.mean_w[layer - 1] if self.mean_w.ndim == 3 else self.mean_w
            return mean, self.diff_w[layer - 1]
        mean = self.mean_w[layer - 1] if self.mean_w.ndim == 3 else self.mean_w
        return mean, self.diff_w

    def encode(self, payload: np.ndarray | None, batch_shape: tuple[int, ...]) -> np.ndarray:
        """Input activations ``a[0]`` of active circuits, shape ``batch_shape + (d,)`` (checked: that shape,
        finite)."""
        batch_shape = tuple(batch_shape)
        if self.payload_dim == 0:
            return np.broadcast_to(_coded(self.encode_payload, "encode_payload", np.zeros(batch_shape + (0,)),
                                          None), batch_shape + (self.circuit_width,)).copy()
        return _coded(self.encode_payload, "encode_payload", payload, batch_shape + (self.circuit_width,))

    def read_on(self, acts: np.ndarray) -> np.ndarray:
        """``decode_on`` of activations ``(..., d)``, checked: an array ``(...)`` of finite numbers.

        Raises:
            CircuitsError: the activations are not finite, or ``decode_on`` fails, returns another shape or
                NaN/inf on finite activations (naming ``decode_on``).
        """
        acts = np.asarray(acts)
        return _coded(self.decode_on, "decode_on", acts, acts.shape[:-1])

    def read_payload(self, acts: np.ndarray) -> np.ndarray:
        """``decode_payload`` of activations ``(..., d)``, checked: ``(..., payload_dim)``, finite (see
        :meth:`read_on`)."""
        acts = np.asarray(acts)
        return _coded(self.decode_payload, "decode_payload", acts, acts.shape[:-1] + (self.payload_dim,))


def _coded(fn, name: str, x, shape: tuple | None) -> np.ndarray:
    """``fn(x)`` as a float64 array, checked: it runs, has ``shape`` (``None``: any) and is finite where ``x`` is."""
    if fn is None:
        raise CircuitsError(f"this family has no {name} function (a saved system is remade from the registry)",
                            parameter=name)
    try:
        out = np.asarray(fn(x))
        if out.dtype.kind not in "biuf":
            raise TypeError(f"it returned {out.dtype} values, not numbers")
        out = out.astype(np.float64, copy=False)
    except CircuitsError:
        raise
    except Exception as err:  # noqa: BLE001 - a user's function: any failure is a bad codec
        raise CircuitsError(f"{name} failed on an array of shape {np.shape(x)}: {type(err).__name__}: {err}",
                            parameter=name) from err
    require(shape is None or out.shape == tuple(shape), f"{name} must map an array of shape {np.shape(x)} to one of "
                                                        f"shape {shape}, got {out.shape}", parameter=name)
    if not np.all(np.isfinite(out)):
        x = np.asarray(x, dtype=np.float64)
        require(bool(np.all(np.isfinite(x))), f"the activations {name} reads are not finite (NaN or inf): the "
                                              "network's values overflowed (lower chi_scale or the circuits' weights)",
                parameter="acts")
        raise CircuitsError(f"{name} returned NaN or inf on finite input (shape {x.shape}); it must give finite "
                            "numbers", parameter=name)
    return out


def validate_family(family: CircuitFamily) -> None:
    """Check the assumptions of the construction that can be checked; name the one that fails."""
    mean, diff, bias = family.mean_w, family.diff_w, family.bias
    require(bias.ndim == 1 and bias.shape[0] >= 1, f"bias must have shape (d,), got {bias.shape}")
    d = bias.shape[0]
    require(diff.ndim in (3, 4) and diff.shape[-2:] == (d, d),
            f"diff_w must have shape (T, d, d) or (L, T, d, d) with d = {d}, got {diff.shape}")
    require(diff.shape[-3] >= 1, "the family must have at least one circuit (T >= 1)")
    require(mean.ndim in (2, 3) and mean.shape[-2:] == (d, d),
            f"mean_w must have shape (d, d) or (L, d, d) with d = {d}, got {mean.shape}")
    if mean.ndim == 3 and diff.ndim == 4:
        require(mean.shape[0] == diff.shape[0],
                f"mean_w has {mean.shape[0]} layers but diff_w has {diff.shape[0]}")
    for name, arr in (("mean_w", mean), ("diff_w", diff), ("bias", bias)):
        require(bool(np.all(np.isfinite(arr))), f"{name} must be finite (found NaN or inf)")
    require(bool(np.all(bias <= 0)),
            f"bias must be <= 0 in every entry so that an inactive circuit stays zero; got {bias.tolist()}")
    require(len(family.on_neurons) >= 1 and all(0 <= i < d for i in family.on_neurons),
            f"on_neurons must be a non-empty list of indices in 0..{d - 1}, got {family.on_neurons}")
    require(all(0 <= i < d for i in family.payload_neurons),
            f"payload_neurons must be indices in 0..{d - 1}, got {family.payload_neurons}")
    require_int("payload_dim", family.payload_dim, 0)
    for name in ("encode_payload", "decode_on", "decode_payload"):
        fn = getattr(family, name)
        require(fn is None or callable(fn), f"{name} must be a function, got {type(fn).__name__}", parameter=name)
    if all(getattr(family, name) is not None for name in ("encode_payload", "decode_on", "decode_payload")):
        # the codecs on a probe batch (2, 3): the shapes they promise, finite numbers
        k = family.payload_dim
        payload = np.zeros((2, 3, k))
        if k:
            payload[..., 0] = 1.0
        acts = family.encode(payload if k else None, (2, 3))
        family.read_on(acts)
        family.read_payload(acts)
        family.read_on(np.zeros((2, 3, d)))
        family.read_payload(np.zeros((2, 3, d)))


def _rotations(n_circuits: int, rng: np.random.Generator) -> np.ndarray:
    theta = rng.uniform(0.0, 2 * np.pi, size=n_circuits)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (T, 2, 2)


def rotation_family(n_circuits: int, *, seed: int, b: float = 1.0) -> CircuitFamily:
    """The arrays and codecs of :func:`circuits.rotation_circuits` (which documents the circuits).

    Example:
        >>> fam = rotation_family(n_circuits=3, seed=0)
        >>> fam.circuit_width, fam.n_circuits
        (4, 3)
    """
    n_circuits = require_int("n_circuits", n_circuits, 1)
    require(np.isfinite(b) and b > 0, f"b must be a finite number > 0, got {b}")
    rot = _rotations(n_circuits, np.random.default_rng(seed))
    one = np.ones(2)
    mean = np.zeros((4, 4))
    mean[0, 0], mean[0, 1] = 2.0, -2.0
    mean[1, 0], mean[1, 1] = 2.0, -2.0
    mean[2:, 0], mean[2:, 1] = 1 + b, -(1 + b)
    diff = np.zeros((n_circuits, 4, 4))
    diff[:, 2:, 2:] = rot
    diff[:, 2:, 0] = -rot @ one
    diff[:, 2:, 1] = rot @ one
    bias = np.array([-0.5, -1.5, -b, -b])

    def encode(x):
        x = np.asarray(x, dtype=np.float64)
        a = np.empty(x.shape[:-1] + (4,))
        a[..., 0], a[..., 1] = 1.5, 0.5
        a[..., 2:] = x + 1.0
        return a

    def decode_payload(a):
        return a[..., 2:] - (a[..., 0] - a[..., 1])[..., None]

    return CircuitFamily("rotation", mean, diff, bias, (0, 1), (2, 3), 2, encode,
                         _decode_two_relu_on, decode_payload)


def rotation3_family(n_circuits: int, *, seed: int, b: float = 1.0) -> CircuitFamily:
    """Rotation circuits (d = 3) with a one-neuron on-indicator: the instructive failure.

    Neuron 0 is ``ReLU((1+b) a0 - b)``, which has an unstable fixed point at 1 (noise on the
    on-indicator is amplified by ``1+b`` each layer); neurons 1, 2 hold ``x + a0 (1, 1)``.
    """
    n_circuits = require_int("n_circuits", n_circuits, 1)
    require(np.isfinite(b) and b > 0, f"b must be a finite number > 0, got {b}")
    rot = _rotations(n_circuits, np.random.default_rng(seed))
    one = np.ones(2)
    mean = np.zeros((3, 3))
    mean[:, 0] = 1 + b
    diff = np.zeros((n_circuits, 3, 3))
    diff[:, 1:, 1:] = rot
    diff[:, 1:, 0] = -rot @ one
    bias = -b * np.ones(3)

    def encode(x):
        x = np.asarray(x, dtype=np.float64)
        a = np.empty(x.shape[:-1] + (3,))
        a[..., 0] = 1.0
        a[..., 1:] = x + 1.0
        return a

    def decode_payload(a):
        return a[..., 1:] - a[..., 0][..., None]

    return CircuitFamily("rotation-3", mean, diff, bias, (0,), (1, 2), 2, encode,
                         _decode_one_relu_on, decode_payload)


def step_family(n_circuits: int) -> CircuitFamily:
    """Step circuits (d = 2): the 2-ReLU on-indicator alone, no payload.

    Every circuit is the same.
    """
    n_circuits = require_int("n_circuits", n_circuits, 1)
    mean = np.array([[2.0, -2.0], [2.0, -2.0]])
    diff = np.zeros((n_circuits, 2, 2))
    bias = np.array([-0.5, -1.5])

    def encode(x):
        a = np.empty(np.shape(x)[:-1] + (2,))
        a[..., 0], a[..., 1] = 1.5, 0.5
        return a

    return CircuitFamily("step", mean, diff, bias, (0, 1), (), 0, encode, _decode_two_relu_on,
                         _no_payload)


def custom_family(
    weights: np.ndarray,
    bias: np.ndarray,
    *,
    on_neurons: tuple[int, ...],
    active_input: np.ndarray,
    decode_on: Callable[[np.ndarray], np.ndarray] | None = None,
    payload_neurons: tuple[int, ...] = (),
    encode_payload: Callable[[np.ndarray], np.ndarray] | None = None,
    decode_payload: Callable[[np.ndarray], np.ndarray] | None = None,
    payload_dim: int = 0,
    mean_w: np.ndarray | None = None,
) -> CircuitFamily:
    """A hand-specified family from arrays.

    Args:
        weights: per-circuit weights ``w_t``, shape ``(T, d, d)`` or per layer ``(L, T, d, d)``.
        bias: shared bias ``(d,)``, every entry <= 0.
        on_neurons: the neurons that form the on-indicator.
        active_input: the input ``a[0]`` of an active circuit when there is no payload, ``(d,)``.
        decode_on: activations ``(..., d)`` -> on-indicator ``(...)``; default: the mean of
            ``on_neurons`` (correct for a single-neuron indicator whose active value is 1).
        payload_neurons, payload_dim, encode_payload, decode_payload: the payload, if any;
            ``encode_payload`` maps ``(..., payload_dim)`` to inputs ``(..., d)``.
        mean_w: the shared part; default: the mean of ``weights`` over circuits.

    Example:
        >>> import numpy as np
        >>> w = np.array([[[2.0, -2.0], [2.0, -2.0]]] * 5)
        >>> fam = custom_family(w, np.array([-0.5, -1.5]), on_neurons=(0, 1),
        ...                       active_input=np.array([1.5, 0.5]),
        ...                       decode_on=lambda a: a[..., 0] - a[..., 1])
        >>> fam.n_circuits, fam.circuit_width
        (5, 2)
    """
    weights = require_array("weights", weights)
    require(weights.ndim in (3, 4) and weights.shape[-1] == weights.shape[-2] and weights.shape[-3] >= 1,
            f"weights must have shape (T, d, d) or (L, T, d, d), got {weights.shape}", parameter="weights")
    d = weights.shape[-1]
    bias = require_array("bias", bias, shape=(d,))
    if mean_w is None:
        mean_w = weights.mean(axis=-3)
    mean_w = require_array("mean_w", mean_w)
    require(mean_w.ndim in (2, 3) and mean_w.shape[-2:] == (d, d),
            f"mean_w must have shape (d, d) or (L, d, d) with d = {d}, got {mean_w.shape}", parameter="mean_w")
    diff = weights - (mean_w[..., None, :, :] if mean_w.ndim == 3 else mean_w)
    active_input = require_array("active_input", active_input, shape=(d,))
    require(all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in on_neurons),
            f"on_neurons must be neuron indices, got {on_neurons!r}", parameter="on_neurons")
    require(len(on_neurons) >= 1 and all(0 <= i < d for i in on_neurons),
            f"on_neurons must be a non-empty list of indices in 0..{d - 1}, got {tuple(on_neurons)}",
            parameter="on_neurons")
    payload_dim = require_int("payload_dim", payload_dim, 0, d)
    on_neurons = tuple(int(i) for i in on_neurons)
    if decode_on is None:
        idx = list(on_neurons)
        decode_on = lambda a: a[..., idx].mean(-1)  # noqa: E731
    if payload_dim:
        require(encode_payload is not None and decode_payload is not None,
                "payload_dim > 0 needs encode_payload and decode_payload", parameter="payload_dim")
    else:
        encode_payload = lambda x: np.broadcast_to(active_input, np.shape(x)[:-1] + active_input.shape).copy()  # noqa: E731
        decode_payload = _no_payload
    return CircuitFamily("custom", mean_w, diff, bias, on_neurons, tuple(payload_neurons), payload_dim,
                         encode_payload, decode_on, decode_payload)


def all_layer_weights(family: CircuitFamily, n_layers: int | None):
    """``(mean (L, d, d), diff (L, T, d, d))`` of layers 1..L (L: the family's own, or ``n_layers``)."""
    if family.per_layer:
        L = family.n_weight_layers if n_layers is None else n_layers
        require(L <= family.n_weight_layers,
                f"n_layers must be <= {family.n_weight_layers} (the family's layers), got {L}", parameter="n_layers")
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
            f"on_neurons {family.on_neurons}", parameter="error_correction")
    o0, o1 = family.on_neurons
    d = family.circuit_width
    mean, diff = all_layer_weights(family, None)  # (L, d, d), (L, T, d, d)

    def rows(i, cols):  # w[:, :, i, cols] of every layer and circuit, (L, T, len(cols))
        return mean[:, None, i, cols] + diff[:, :, i, cols]

    every = list(range(d))
    k = mean[0, o0, o0] + diff[0, 0, o0, o0]
    row = np.zeros(d)
    row[o0], row[o1] = k, -k
    require(k > 0 and bool(np.all(rows(o0, every) == row)) and bool(np.all(rows(o1, every) == row)),
            f"error correction needs a 2-ReLU step on-indicator: rows {o0}, {o1} of the {name!r} family must read "
            f"only k (a{o0} - a{o1}) with one k > 0", parameter="error_correction")
    b = family.bias
    require(b[o1] == b[o0] - 1, f"error correction needs a 2-ReLU step: biases of neurons {o0}, {o1} must be "
                                f"-c and -c - 1; the {name!r} family has {b[o0]}, {b[o1]}", parameter="error_correction")
    others = [i for i in range(d) if i not in (o0, o1)]
    require(all(bool(np.all(rows(i, [o0]) == -rows(i, [o1]))) for i in others),
            f"error correction needs every other row of the {name!r} family to read the on-neurons only "
            f"through a{o0} - a{o1}", parameter="error_correction")
    probe = np.asarray(family.decode_on(np.eye(d)), dtype=np.float64)
    want = np.zeros(d)
    want[o0], want[o1] = 1.0, -1.0
    require(probe.shape == (d,) and np.array_equal(probe, want) and float(family.decode_on(np.zeros(d))) == 0.0,
            f"error correction needs decode_on = a{o0} - a{o1}; the {name!r} family decodes otherwise",
            parameter="error_correction")
    return o0, o1
