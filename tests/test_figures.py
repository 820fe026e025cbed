"""The figures: every file of ``cis figures --quick`` is written, and the data behind them is right."""

import numpy as np
import pandas as pd
import pytest

from circuits import build, evaluate, rotation_circuits
from circuits.cli import main
from figures import FIGURES, figure_names, render
from figures._data import LOAD_GRID, QUICK_GRID, layer0_errors
from figures.fig_step import step_frame

STUDY = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "seizure"]
#: File stem and the columns its CSV must have, per figure of the study (and the seizure map).
EXPECTED = {
    "1": ("fig01_payload_scatter", {"n_active", "panel", "circuit", "layer", "kind", "x0", "x1"}),
    "2": ("fig02_rotation", {"panel", "circuit", "layer", "x0", "x1", "angle_deg", "turn_deg"}),
    "3": ("fig03_step", {"a", "curve", "value"}),
    "4": ("fig04_payload_scatter_z", {"n_active", "panel", "circuit", "layer", "kind", "x0", "x1"}),
    "5": ("fig05_payload_error", {"n_active", "layer", "group", "quantity", "stat", "measured", "predicted"}),
    "6": ("fig06_on_error", {"n_active", "layer", "group", "quantity", "stat", "measured", "predicted"}),
    "7": ("fig07_fraction_on", {"n_active", "layer", "neuron_group", "fraction", "predicted"}),
    "8": ("fig08_load_active_payload", {"width", "n_circuits", "n_active", "load", "shares_neurons", "layer",
                                        "measured", "predicted"}),
    "9": ("fig09_load_inactive_payload", {"width", "n_circuits", "n_active", "load", "layer", "measured",
                                          "predicted"}),
    "10": ("fig10_load_active_on", {"width", "n_circuits", "n_active", "load", "layer", "measured", "predicted"}),
    "11": ("fig11_load_inactive_on", {"width", "n_circuits", "n_active", "load", "layer", "measured",
                                      "predicted"}),
    "seizure": ("fig12_seizure", {"width", "n_circuits", "n_active", "load", "seizure_layer",
                                  "active_seizure_layer"}),
    "chains": ("fig_chains", {"family", "series", "n_circuits", "load", "chain_length", "edges_per_circuit",
                              "layer", "chain_position", "mse"}),
}


def test_figures_are_listed_in_order_with_unique_names():
    names = figure_names()
    assert names[: len(STUDY)] == STUDY
    assert len(set(names)) == len(names) == len(FIGURES)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert main(["figures", "--quick", "--out", str(out), "--only", ",".join(STUDY)]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", STUDY)
def test_quick_run_writes_every_figure_and_its_data(quick_run, name):
    stem, columns = EXPECTED[name]
    png, csv = quick_run / f"{stem}.png", quick_run / f"{stem}.csv"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    frame = pd.read_csv(csv)
    assert len(frame) > 0 and columns <= set(frame.columns)


@pytest.mark.slow
def test_quick_run_numbers_follow_the_construction(quick_run):
    errors = pd.read_csv(quick_run / "fig05_payload_error.csv")
    # z = 1 runs every circuit once; reading back a lone circuit's own input is exact.
    one = errors[(errors.n_active == 1) & (errors.group == "active") & (errors.stat == "mse")]
    assert one[one.layer == 0].measured.iloc[0] < 1e-10
    assert set(errors.layer) == set(range(6)) and set(errors.n_active) == {1, 2, 3}
    # The figure's theory is theory.predicted_mse: inactive z p at every layer >= 1.
    p = 4 / 1000 - 1 / (6 * 557)
    inactive = errors[(errors.group == "inactive") & (errors.stat == "mse") & (errors.layer >= 1)]
    assert np.allclose(inactive.predicted, inactive.n_active * p)
    frac = pd.read_csv(quick_run / "fig07_fraction_on.csv")
    assert np.allclose(frac.predicted, frac.n_active * 6 * 4 / 1000)
    sweep = pd.read_csv(quick_run / "fig08_load_active_payload.csv")
    nets = sweep[["width", "n_circuits"]].drop_duplicates()
    assert sorted(map(tuple, nets.to_numpy())) == sorted(QUICK_GRID) and len(QUICK_GRID) == 14
    assert set(QUICK_GRID) <= set(LOAD_GRID) and len(set(LOAD_GRID)) == 41
    assert np.allclose(sweep.load, sweep.n_circuits * (4 / sweep.width) ** 2)
    assert (sweep.shares_neurons == (sweep.n_circuits * 4 > sweep.width)).all()
    seizure = pd.read_csv(quick_run / "fig12_seizure.csv")
    assert len(seizure) == len(QUICK_GRID) * 4
    # The active circuits' first seizure can come no earlier than the any-circuit one.
    both = seizure.fillna(99)
    assert (both.active_seizure_layer >= both.seizure_layer).all()


def test_step_figure_data_is_the_exact_step_function(tmp_path):
    assert main(["figures", "--only", "3", "--out", str(tmp_path)]) == 0
    frame = pd.read_csv(tmp_path / "fig03_step.csv").pivot(index="a", columns="curve", values="value")
    a = frame.index.to_numpy()
    assert a.min() == pytest.approx(-0.1) and a.max() == pytest.approx(1.1)
    assert np.all(frame.loc[a <= 0.25, "difference"] == 0.0)
    assert np.allclose(frame.loc[a >= 0.75, "difference"], 1.0)
    assert np.allclose(frame["difference"], np.clip(2 * a - 0.5, 0, 1))
    assert step_frame(n=5).shape == (15, 3)


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_data(quick_run, tmp_path):
    again = render(tmp_path / "a", only=["1"], quick=True, seed=0, log=None)["1"]
    other = render(tmp_path / "b", only=["1"], quick=True, seed=1, log=None)["1"]
    assert [p.name for p in again] == ["fig01_payload_scatter.png", "fig01_payload_scatter.csv"]
    for path in again:
        assert path.read_bytes() == (quick_run / path.name).read_bytes()
    assert other[1].read_bytes() != again[1].read_bytes()


def test_layer0_read_back_of_every_circuit_is_the_exact_overlap():
    """z = 1, every circuit once: circuit u reads 1/S of the active circuit's input on each
    neuron it shares (at most one), on the on-indicator (a0 - a1 = 1) and on the payload
    (|x| = 1), so the inactive MSE is sum_k n_k (n_k - 1) / (T (T - 1) S^2) exactly."""
    T, S = 300, 6
    net = build(rotation_circuits(n_circuits=T, seed=0), width=1200, redundancy=S, n_layers=1, seed=0)
    ev = evaluate(net, active=np.arange(T)[:, None], seed=0)
    n = np.bincount(net.assignment.sets[0].ravel(), minlength=net.n_slots).astype(float)
    expected = (n * (n - 1)).sum() / (T * (T - 1) * S**2)
    zero = layer0_errors(net, ev, chunk=70).set_index(["group", "quantity", "stat"]).measured
    assert zero["inactive", "on", "mse"] == pytest.approx(expected, rel=1e-5)
    assert zero["inactive", "payload", "mse"] == pytest.approx(expected, rel=1e-5)
    assert zero["inactive", "on", "worst"] == pytest.approx(1 / S, rel=1e-5)
    assert zero["active", "payload", "mse"] < 1e-12 and zero["active", "on", "worst"] < 1e-6


def test_unknown_figure_name_is_a_clear_error(tmp_path, capsys):
    assert main(["figures", "--only", "5,99", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "only must name figures" in err and "'99'" in err
    assert not (tmp_path / "x").exists()  # checked before any work


def test_docstring_examples_of_the_figures_package_run():
    import doctest

    import figures
    from figures import _data, fig_step

    for mod in (figures, _data, fig_step):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, mod.__name__


# ------------------------------------------------------------------ chains (not in the study)
def test_chains_frame_is_exact_without_shared_neurons_and_counts_edges():
    from figures.fig_chains import chain_frame

    # T S = 24 = D/d: no two circuits share a neuron, so chains and fan-in are exact
    frame = chain_frame(width=96, redundancy=2, n_layers=3, active=6, chain_lengths=(1, 2, 3), circuits=(12,),
                        batch_size=10, seed=0, fan_in=True)
    assert EXPECTED["chains"][1] <= set(frame.columns) and frame.mse.max() < 1e-10
    edges = frame.groupby("series").edges_per_circuit.first()
    assert edges.to_dict() == pytest.approx({"K = 1": 0.0, "K = 2": 1 / 2, "K = 3": 2 / 3, "fan-in": 2 / 3})
    depths = frame.dropna(subset=["chain_position"]).groupby("series").chain_position.unique()
    assert {k: sorted(v) for k, v in depths.items()} == {"K = 1": [1], "K = 2": [1, 2], "K = 3": [1, 2, 3],
                                                          "fan-in": [1, 2]}
    assert len(frame) == 3 * (1 + 2 + 3 + 2) + 4 * 3  # per layer: the positions, and the total per series


@pytest.mark.slow
def test_quick_chains_figure(tmp_path):
    from figures.fig_chains import CHAINS

    stem, columns = EXPECTED["chains"]
    assert main(["figures", "--quick", "--only", "chains", "--out", str(tmp_path)]) == 0
    png, frame = tmp_path / f"{stem}.png", pd.read_csv(tmp_path / f"{stem}.csv")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert columns <= set(frame.columns)
    assert set(frame.series) == {*(f"K = {K}" for K in CHAINS["chain_lengths"]), "fan-in"}
    L = CHAINS["n_layers"]
    assert set(frame.n_circuits) == set(CHAINS["circuits"]) and set(frame.layer) == set(range(1, L + 1))
    assert np.allclose(frame.load, frame.n_circuits * (4 / CHAINS["width"]) ** 2)
    # circuits that share neurons err; the error grows from layer 1 to layer L
    total = frame[frame.chain_position.isna()].pivot_table(index=["series", "n_circuits"], columns="layer",
                                                           values="mse")
    assert (total[1] > 0).all() and (total[L] > total[1]).all()
