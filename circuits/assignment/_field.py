"""Finite fields GF(q), q a prime power, as vectorised numpy arithmetic on labels 0..q-1.

An element of GF(p^k) is a polynomial of degree < k in a primitive root ``alpha`` with
coefficients in GF(p); its label is the integer whose base-p digits are those coefficients
(digit ``i`` is the coefficient of ``alpha^i``). Addition is digit-wise modulo ``p``;
multiplication goes through tables of powers of ``alpha``. For a prime q both are the usual
arithmetic modulo q. Only what the finite-geometry assignment needs is here: ``a * x + b``
for arrays of ``a`` and ``b`` and a fixed ``x``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..base import CircuitsError


@functools.lru_cache(maxsize=None)
def _prime_sieve(limit: int) -> np.ndarray:
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for p in range(2, int(limit**0.5) + 1):
        if sieve[p]:
            sieve[p * p::p] = False
    return sieve


@functools.lru_cache(maxsize=None)
def prime_powers(limit: int) -> tuple[int, ...]:
    """All prime powers ``p^k`` (k >= 1) up to ``limit``, ascending.

    Example:
        >>> prime_powers(30)
        (2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17, 19, 23, 25, 27, 29)
    """
    out = []
    for p in np.flatnonzero(_prime_sieve(max(int(limit), 1))).tolist():
        power = p
        while power <= limit:
            out.append(power)
            power *= p
    return tuple(sorted(out))


def factor_prime_power(q: int) -> tuple[int, int]:
    """``(p, k)`` with ``q = p^k``; raises :class:`CircuitsError` if q is not a prime power."""
    q = int(q)
    if q >= 2:
        p = next(d for d in range(2, q + 1) if q % d == 0)
        k, rest = 0, q
        while rest % p == 0:
            rest //= p
            k += 1
        if rest == 1:
            return p, k
    raise CircuitsError(f"field order q must be a prime power >= 2, got {q}")


def _digits(value: int, p: int, k: int) -> list[int]:
    return [(value // p**i) % p for i in range(k)]


def _power_table(p: int, k: int, low: list[int]) -> list[int] | None:
    """Labels of ``alpha^0 .. alpha^(q-2)`` where ``alpha^k = -sum_i low[i] alpha^i``.

    Returns None when ``alpha`` does not have order ``q - 1`` (the polynomial is not primitive).
    """
    q = p**k
    state = [1] + [0] * (k - 1)
    table = []
    for _ in range(q - 1):
        label = sum(c * p**i for i, c in enumerate(state))
        table.append(label)
        top = state[-1]
        state = [0] + state[:-1]
        state = [(s - top * c) % p for s, c in zip(state, low)]
        if state == [1] + [0] * (k - 1) and len(table) < q - 1:
            return None
    return table if state == [1] + [0] * (k - 1) else None


@dataclass(frozen=True, eq=False)
class GaloisField:
    """GF(q) for a prime power ``q = p^k``.

    Attributes:
        q: the field order.
        p: its characteristic.
        k: its degree over GF(p).
        exp: ``(q-1,)`` labels of ``alpha^i`` (empty for a prime field).
        log: ``(q,)`` ``i`` with ``alpha^i = label`` (``log[0]`` unused; empty for a prime field).
    """

    q: int
    p: int
    k: int
    exp: np.ndarray = field(repr=False)
    log: np.ndarray = field(repr=False)

    def add(self, a, b) -> np.ndarray:
        """``a + b`` element-wise (arrays of labels, broadcast)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if self.k == 1:
            return (a + b) % self.q
        if self.p == 2:
            return a ^ b
        out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.int64)
        scale = 1
        for _ in range(self.k):
            out += ((a // scale + b // scale) % self.p) * scale
            scale *= self.p
        return out

    def mul(self, a, x) -> np.ndarray:
        """``a * x`` element-wise (arrays of labels, broadcast)."""
        a, x = np.asarray(a, dtype=np.int64), np.asarray(x, dtype=np.int64)
        if self.k == 1:
            return (a * x) % self.q
        zero = (a == 0) | (x == 0)
        power = (self.log[np.where(zero, 1, a)] + self.log[np.where(zero, 1, x)]) % (self.q - 1)
        return np.where(zero, 0, self.exp[power])

    def neg(self, a) -> np.ndarray:
        """``-a`` element-wise (``-1`` has the label ``p - 1``: digits ``(p-1, 0, ..., 0)``)."""
        return self.mul(a, self.p - 1)


@functools.lru_cache(maxsize=64)
def galois_field(q: int) -> GaloisField:
    """The field of order ``q`` (cached). For ``q = p^k``, ``k > 1``, the defining polynomial is
    the first primitive one in the order of its coefficient labels, so the labels are fixed.

    Example:
        >>> F = galois_field(9)
        >>> int(F.mul(F.add(3, 4), 5)) == int(F.add(F.mul(3, 5), F.mul(4, 5)))
        True
    """
    p, k = factor_prime_power(q)
    empty = np.zeros(0, dtype=np.int64)
    if k == 1:
        return GaloisField(q=q, p=p, k=1, exp=empty, log=empty)
    for code in range(p**k):
        low = _digits(code, p, k)
        if low[0] == 0:
            continue
        table = _power_table(p, k, low)
        if table is not None:
            exp = np.asarray(table, dtype=np.int64)
            log = np.zeros(q, dtype=np.int64)
            log[exp] = np.arange(q - 1)
            return GaloisField(q=q, p=p, k=k, exp=exp, log=log)
    raise AssertionError(f"no primitive polynomial found for GF({q})")  # pragma: no cover
