"""Grids defined once and used by the figures and ``cis bench --figure-sweep``.

The study's load sweep (its figures 8-11; our seizure map): rotation circuits, S = 6, L = 4, capped weights,
prime-step assignment, on 41 networks (D, T): (800, 200..300 step 100), (1000, 200..500 step 100),
(1200, 200..700 step 100), (1400, 200..1000 step 200), (1600, 300..1300 step 200),
(1800, 300..1700 step 200), (2000, 200..2000 step 200); z = 1..4, 500 samples each.
"""

from __future__ import annotations

#: The load sweep's networks: (D, first T, last T, step of T); 41 networks.
LOAD_SWEEP_ROWS = ((800, 200, 300, 100), (1000, 200, 500, 100), (1200, 200, 700, 100), (1400, 200, 1000, 200),
                   (1600, 300, 1300, 200), (1800, 300, 1700, 200), (2000, 200, 2000, 200))
#: What every network of the load sweep shares.
LOAD_SWEEP = {"system": "rotation", "redundancy": 6, "n_layers": 4, "n_active": [1, 2, 3, 4], "batch_size": 500}


def load_sweep_networks(*, quick: bool = False) -> list[tuple[int, int]]:
    """The ``(D, T)`` networks of the load sweep; ``quick``: the smallest and largest T of each D (14).

    Example:
        >>> nets = load_sweep_networks()
        >>> len(nets), nets[0], nets[-1], len(load_sweep_networks(quick=True))
        (41, (800, 200), (2000, 2000), 14)
    """
    out = []
    for D, first, last, step in LOAD_SWEEP_ROWS:
        ts = list(range(first, last + 1, step))
        out += [(D, T) for T in ((ts[0], ts[-1]) if quick else ts)]
    return out


def load_sweep_grid(*, quick: bool = False, seed: int = 0, **overrides) -> list[dict]:
    """The load sweep as a :func:`circuits.sweep` grid (a union: one part per width).

    Args:
        quick: the 14 networks of :func:`load_sweep_networks` ``(quick=True)``.
        seed: the specs' seed.
        **overrides: grid keys to change (e.g. ``batch_size=20``).

    Example:
        >>> grid = load_sweep_grid()
        >>> len(grid), grid[0]["width"], grid[0]["n_circuits"]
        (7, 800, [200, 300])
    """
    widths: dict[int, list[int]] = {}
    for D, T in load_sweep_networks(quick=quick):
        widths.setdefault(D, []).append(T)
    return [{**LOAD_SWEEP, "width": D, "n_circuits": ts, "seed": seed, **overrides} for D, ts in widths.items()]
