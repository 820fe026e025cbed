"""The measurements behind the figures, computed once per run and shared through ``ctx.cache``.

Two sources of data, both on the public API of :mod:`circuits` and :mod:`theory`:

- the study's network (rotation circuits, D = 1000, T = 557, S = 6, L = 5, capped weights)
  evaluated at z = 1 (every circuit once), z = 2 and z = 3 (100 T random draws each);
- the load sweep: 41 networks over (D, T), L = 4, z = 1..4, 500 draws each.

Every random choice is seeded from ``ctx.seed`` through :func:`derive_seed`, so a rerun with
the same seed draws the same networks, the same samples and the same pictures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from circuits import SEIZURE_THRESHOLD, build, evaluate, rotation_circuits
from theory import predicted_mse

from ._style import params

#: The study's network: D, T, S, L.
STUDY = {"width": 1000, "n_circuits": 557, "redundancy": 6, "n_layers": 5}
#: d, the width of a rotation circuit.
CIRCUIT_WIDTH = rotation_circuits(1, seed=0).circuit_width
#: Numbers of active circuits z evaluated on the study's network.
STUDY_ACTIVE = (1, 2, 3)
#: Random draws per z >= 2 on the study's network, as a multiple of T (full run / --quick).
DRAWS_PER_CIRCUIT = 100
QUICK_DRAWS = 200

#: The study's 41 (D, T) networks of the load sweep (figures 8-12).
LOAD_GRID = tuple(
    [(800, 200), (800, 300)]
    + [(1000, t) for t in range(200, 501, 100)]
    + [(1200, t) for t in range(200, 701, 100)]
    + [(1400, t) for t in range(200, 1001, 200)]
    + [(1600, t) for t in range(300, 1301, 200)]
    + [(1800, t) for t in range(300, 1701, 200)]
    + [(2000, t) for t in range(200, 2001, 200)]
)
#: --quick sweeps 14 of them: the smallest and the largest T of every D.
QUICK_GRID = tuple((D, T) for D in sorted({D for D, _ in LOAD_GRID})
                   for T in sorted({f(T for D_, T in LOAD_GRID if D_ == D) for f in (min, max)}))
#: Layers, z values, S and draws per (network, z) of the load sweep (full run / --quick).
SWEEP = {"n_layers": 4, "active": (1, 2, 3, 4), "redundancy": 6, "batch": 500, "quick_batch": 20}

# Independent random streams derived from the one seed.
_FAMILY, _BUILD, _EVAL, _PICK = 1, 2, 3, 4


def derive_seed(root: int, *keys: int) -> int:
    """A seed for the stream named by ``keys`` (small non-negative ints), derived from ``root``.

    Example:
        >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
        True
    """
    return int(np.random.SeedSequence([int(root), *map(int, keys)]).generate_state(1)[0])


def rng(ctx, *keys: int) -> np.random.Generator:
    """A generator for the figure-level choice named by ``keys`` (e.g. which circuits to show)."""
    return np.random.default_rng(derive_seed(ctx.seed, _PICK, *keys))


# ------------------------------------------------------------------ the study's network
def study_network(ctx):
    """The study's network (cached): rotation circuits, D = 1000, T = 557, S = 6, L = 5."""
    if "study_network" not in ctx.cache:
        fam = rotation_circuits(STUDY["n_circuits"], seed=derive_seed(ctx.seed, _FAMILY))
        ctx.cache["study_network"] = build(fam, width=STUDY["width"], redundancy=STUDY["redundancy"],
                                           n_layers=STUDY["n_layers"], seed=derive_seed(ctx.seed, _BUILD))
    return ctx.cache["study_network"]


def study_label() -> str:
    """``"rotation circuits, D = 1000, T = 557, S = 6, L = 5, capped"``: the study's network in a title."""
    sizes = params(D=STUDY["width"], T=STUDY["n_circuits"], S=STUDY["redundancy"], L=STUDY["n_layers"])
    return f"rotation circuits, {sizes}, capped"


def draws_label(ctx) -> str:
    """``"samples for z = 1, 2, 3: 557, 55700, 55700"``: the evaluations' sizes in a title."""
    return (f"samples for z = {', '.join(map(str, STUDY_ACTIVE))}: "
            + ", ".join(str(study_draws(ctx, z)) for z in STUDY_ACTIVE))


def study_draws(ctx, n_active: int) -> int:
    """Samples evaluated at ``n_active`` = z: T for z = 1 (every circuit once), else 100 T."""
    T = STUDY["n_circuits"]
    if n_active == 1:
        return T
    return QUICK_DRAWS if ctx.quick else DRAWS_PER_CIRCUIT * T


def study_evaluation(ctx, n_active: int):
    """:class:`circuits.Evaluation` of the study's network at z = ``n_active`` (cached).

    z = 1 runs every circuit once (``active = arange(T)[:, None]``); z >= 2 draws
    :func:`study_draws` random active sets.
    """
    key = ("study_evaluation", n_active)
    if key not in ctx.cache:
        net = study_network(ctx)
        seed = derive_seed(ctx.seed, _EVAL, n_active)
        if n_active == 1:
            ev = evaluate(net, active=np.arange(net.n_circuits)[:, None], seed=seed)
        else:
            ev = evaluate(net, n_active=n_active, batch_size=study_draws(ctx, n_active), seed=seed,
                          progress=not ctx.quick)
        ctx.cache[key] = ev
    return ctx.cache[key]


def layer0_errors(net, ev, chunk: int = 2000) -> pd.DataFrame:
    """Errors of the read-out of the input written into the network (layer 0).

    The active circuits' inputs ``a[0]`` are placed in their ``e[0]`` neurons (values of
    circuits that share a neuron add up) and every circuit is read back, exactly as
    :func:`circuits.evaluate` does for its layer-0 read-outs. With one active circuit the
    active read-out is exact; with more, a neuron shared by two active circuits leaks. The
    inactive circuits read whatever the active ones left in the neurons they share.

    Returns:
        rows (group, quantity, stat, measured) for layer 0, same meaning as ``ev.table``.
    """
    fam = net.family
    active = ev.active
    B, z = active.shape
    inputs = fam.encode(ev.truth_payload[0], (B, z))
    sq = {key: 0.0 for key in ("active on", "active payload", "inactive on", "inactive payload")}
    worst = dict.fromkeys(sq, 0.0)
    with torch.no_grad():
        for lo in range(0, B, chunk):
            act = active[lo:lo + chunk]
            small = net.read_out(net.place(act, inputs[lo:lo + chunk], 0), 0).double().numpy()
            on, payload = fam.decode_on(small), fam.decode_payload(small)  # (b, T), (b, T, k)
            rows = np.arange(len(act))[:, None]
            is_active = np.zeros(on.shape, dtype=bool)
            is_active[rows, act] = True
            errors = {
                "active on": np.abs(on[rows, act] - ev.truth_on[0, lo:lo + chunk]),
                "active payload": np.linalg.norm(payload[rows, act] - ev.truth_payload[0, lo:lo + chunk], axis=-1),
                "inactive on": np.abs(on[~is_active]),
                "inactive payload": np.linalg.norm(payload[~is_active], axis=-1),
            }
            for key, err in errors.items():
                sq[key] += float((err**2).sum())
                worst[key] = max(worst[key], float(err.max(initial=0.0)))
    T = net.n_circuits
    counts = {"active": B * z, "inactive": B * (T - z)}
    records = []
    for key in sq:
        group, quantity = key.split()
        if counts[group] == 0:
            continue
        records.append((group, quantity, "mse", sq[key] / counts[group]))
        records.append((group, quantity, "worst", worst[key]))
    frame = pd.DataFrame(records, columns=["group", "quantity", "stat", "measured"])
    frame.insert(0, "layer", 0)
    return frame


def study_errors(ctx) -> pd.DataFrame:
    """Tidy errors of the study's network for z = 1, 2, 3 and layers 0..L (cached).

    Columns: ``n_active, layer, group, quantity, stat, measured, predicted, samples``. Layers
    1..L come from :func:`circuits.evaluate`; layer 0 is measured by :func:`layer0_errors`.
    ``predicted`` is :func:`theory.predicted_mse` for the MSE rows (0 at layer 0: the input is
    given exactly) and NaN for the worst-case rows.
    """
    if "study_errors" not in ctx.cache:
        net = study_network(ctx)
        frames = []
        for z in STUDY_ACTIVE:
            ev = study_evaluation(ctx, z)
            zero = layer0_errors(net, ev)
            zero["predicted"] = [predicted_mse(g, q, 0, net.n_circuits, net.width, net.circuit_width,
                                               net.redundancy, z) if s == "mse" else np.nan
                                 for g, q, s in zip(zero.group, zero.quantity, zero.stat)]
            frame = pd.concat([zero, ev.table], ignore_index=True)
            frame.insert(0, "n_active", z)
            frame["samples"] = len(ev.active)
            frames.append(frame)
        ctx.cache["study_errors"] = pd.concat(frames, ignore_index=True)
    return ctx.cache["study_errors"]


# ------------------------------------------------------------------------- load sweep
def first_layer_over(table: pd.DataFrame, group: str, quantity: str) -> int | None:
    """First layer of ``table`` (an ``Evaluation.table``) whose worst error of ``group`` and
    ``quantity`` exceeds :data:`circuits.SEIZURE_THRESHOLD`; ``None`` if none does."""
    rows = table[(table.group == group) & (table.quantity == quantity) & (table.stat == "worst")]
    over = rows[rows.measured > SEIZURE_THRESHOLD].layer
    return int(over.min()) if len(over) else None


def sweep_grid(ctx) -> tuple[tuple[int, int], ...]:
    """The (D, T) networks of the load sweep: :data:`LOAD_GRID`, or :data:`QUICK_GRID` in --quick."""
    return QUICK_GRID if ctx.quick else LOAD_GRID


def sweep_batch(ctx) -> int:
    """Samples per (network, z) of the load sweep."""
    return SWEEP["quick_batch"] if ctx.quick else SWEEP["batch"]


def load_sweep(ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate the networks of :func:`sweep_grid` at z = 1..4 (cached; tqdm progress).

    Returns:
        ``(errors, seizures)``. ``errors``: tidy rows ``width, n_circuits, n_active, load,
        shares_neurons, layer, group, quantity, stat, measured, predicted`` (layers 1..L);
        ``shares_neurons`` is ``T d > D`` (circuits cannot all have neurons of their own).
        ``seizures``: one row per (network, z): ``width, n_circuits, n_active, load,
        shares_neurons, batch_size, seizure_layer`` (first layer whose worst on-indicator
        error, any circuit, over the batch exceeds 0.25; NaN for none) and
        ``active_seizure_layer`` (the same for the active circuits' on-indicator alone).
    """
    if "load_sweep" not in ctx.cache:
        from tqdm.auto import tqdm

        batch, grid = sweep_batch(ctx), sweep_grid(ctx)
        errors, seizures = [], []
        for D, T in tqdm(grid, desc=f"load sweep ({len(grid)} networks)", unit="net", leave=False):
            fam = rotation_circuits(T, seed=derive_seed(ctx.seed, _FAMILY, D, T))
            net = build(fam, width=D, redundancy=SWEEP["redundancy"], n_layers=SWEEP["n_layers"],
                        seed=derive_seed(ctx.seed, _BUILD, D, T))
            for z in SWEEP["active"]:
                ev = evaluate(net, n_active=z, batch_size=batch, seed=derive_seed(ctx.seed, _EVAL, D, T, z))
                head = {"width": D, "n_circuits": T, "n_active": z, "load": net.load,
                        "shares_neurons": T * net.circuit_width > D}
                errors.append(ev.table.assign(**head))
                seizures.append({**head, "batch_size": batch, "seizure_layer": ev.seizure_layer,
                                 "active_seizure_layer": first_layer_over(ev.table, "active", "on")})
        errors = pd.concat(errors, ignore_index=True)
        cols = ["width", "n_circuits", "n_active", "load", "shares_neurons"]
        errors = errors[cols + [c for c in errors.columns if c not in cols]]
        seizures = pd.DataFrame(seizures).astype({"seizure_layer": "float64", "active_seizure_layer": "float64"})
        ctx.cache["load_sweep"] = (errors, seizures)
    return ctx.cache["load_sweep"]
