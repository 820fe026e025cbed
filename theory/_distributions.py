"""The binomial and normal distributions the boundary theory needs, in closed form.

They stand in for ``scipy.stats.binom`` and ``scipy.stats.norm`` (only ``pmf``, ``cdf`` and ``pdf``), whose
import costs more than a second: the theory is imported by every command.

Example:
    >>> [round(float(x), 4) for x in binom.pmf([0, 1, 2], 2, 0.5)]
    [0.25, 0.5, 0.25]
    >>> round(norm.cdf(0.0), 6), round(norm.pdf(0.0), 6)
    (0.5, 0.398942)
"""

from __future__ import annotations

import math

import numpy as np

#: Below this a power loses precision (subnormal floats start near 2e-308); such terms are taken in logarithms.
_TINY = 1e-280


class binom:  # noqa: N801 - named after the distribution it stands in for
    """The binomial distribution ``Binomial(n, p)``."""

    @staticmethod
    def pmf(k, n: int, p: float) -> np.ndarray:
        """``P(K = k)`` for every ``k`` (a sequence of integers), as an array; 0 outside ``0..n``.

        ``C(n, k) p^k (1 - p)^(n - k)`` with the binomial coefficient exact; in logarithms where a factor passes
        the float range (``n`` above about 1000, or powers below about 1e-280).
        """
        n, p = int(n), float(p)
        out = [binom._term(kk, n, p) for kk in np.atleast_1d(np.asarray(k, dtype=np.int64)).tolist()]
        return np.asarray(out) if np.ndim(k) else np.float64(out[0])

    @staticmethod
    def _term(k: int, n: int, p: float) -> float:
        if k < 0 or k > n:
            return 0.0
        if p <= 0.0 or p >= 1.0:
            return float(k == (0 if p <= 0.0 else n))
        head, tail = p**k, (1.0 - p) ** (n - k)
        if head > _TINY and tail > _TINY:  # both factors well inside the normal float range
            try:
                return float(math.comb(n, k)) * head * tail
            except OverflowError:
                pass
        return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
                        + (n - k) * math.log1p(-p))

    @staticmethod
    def cdf(k: int, n: int, p: float) -> float:
        """``P(K <= k)``."""
        k = min(int(math.floor(k)), int(n))
        return float(min(1.0, sum(binom.pmf(list(range(k + 1)), n, p)))) if k >= 0 else 0.0


class norm:  # noqa: N801 - named after the distribution it stands in for
    """The standard normal distribution."""

    @staticmethod
    def cdf(t: float) -> float:
        """``P(X <= t)``, ``0.5 erfc(-t / sqrt 2)``."""
        return 0.5 * math.erfc(-t / math.sqrt(2.0))

    @staticmethod
    def pdf(t: float) -> float:
        """``exp(-t^2 / 2) / sqrt(2 pi)``."""
        return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
