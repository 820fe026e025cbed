"""The figures: every file of ``cis figures --quick`` is written, the data behind them is right, and
every row that comes from an evaluation is reproduced exactly from the spec it records."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from circuits import CircuitsError, ExperimentSpec, capacity, evaluate, find_boundary, sweep
from circuits.cli import main
from circuits.experiments import load_sweep_networks, spec_keys
from figures import FIGURES, figure_modules, figure_name, figure_names, render, select_figures
from figures._data import row_spec
from figures.fig_step import step_frame
from theory import packing_bound

#: The number of the published study's figure each of ours regenerates (the others are not in the study).
STUDY = {"payload-scatter": 1, "rotation": 2, "step": 3, "payload-scatter-z": 4, "payload-error": 5, "on-error": 6,
         "fraction-on": 7, "load-active-payload": 8, "load-inactive-payload": 9, "load-active-on": 10,
         "load-inactive-on": 11}
#: The spec's columns of the rotation figures (rotation has no system parameter).
SPEC = {"system", "error_correction", "width", "n_circuits", "redundancy", "n_layers", "weight_scheme",
        "chi_scale", "assignment", "n_active", "batch_size", "ideal", "seed"}
TABLE = {"layer", "circuit_state", "quantity", "stat", "measured", "predicted"}
#: The columns each figure's CSV must have, per figure name, in the order the figures are made (the files are
#: NAME.png and NAME.csv).
EXPECTED = {
    "payload-scatter": SPEC | {"panel", "sample", "circuit", "layer", "kind", "x0", "x1"},
    "rotation": SPEC | {"panel", "sample", "circuit", "layer", "x0", "x1", "angle_deg", "turn_deg"},
    "step": {"a", "curve", "value"},
    "payload-scatter-z": SPEC | {"panel", "sample", "circuit", "layer", "kind", "x0", "x1"},
    "payload-error": SPEC | TABLE | {"load", "computation_layer", "role"},
    "on-error": SPEC | TABLE | {"load", "computation_layer", "role"},
    "fraction-on": SPEC | {"load", "layer", "neuron_group", "fraction", "predicted"},
    "load-active-payload": SPEC | TABLE | {"load", "shares_neurons"},
    "load-inactive-payload": SPEC | TABLE | {"load", "shares_neurons"},
    "load-active-on": SPEC | TABLE | {"load", "shares_neurons"},
    "load-inactive-on": SPEC | TABLE | {"load", "shares_neurons"},
    "seizure": SPEC | {"load", "shares_neurons", "failure_rate", "seizure_layer", "active_seizure_layer"},
    "capacity": {"n_slots", "redundancy", "assignment", "capacity", "packing_bound", "fraction_of_bound"},
    "boundary": SPEC - {"n_circuits"} | {"criterion", "n_seeds", "level", "rtol", "confidence", "crossing_seed",
                                         "crossing_below", "crossing_above", "crossing_load", "critical_load",
                                         "interval_low", "interval_high", "coverage", "capacity", "capacity_load",
                                         "capacity_reached", "disjoint_load", "predicted"},
    "scaling": SPEC - {"n_circuits", "width"} | {"width", "construction", "criterion", "critical_load", "low", "high",
                                                 "coverage", "critical_circuits", "capacity_reached", "seed_loads",
                                                 "predicted"},
    "error-correction": SPEC | TABLE | {"kind", "load", "circuit_width", "tuned_chi_scale", "label", "critical_load",
                                        "interval_low", "interval_high", "n_seeds", "rtol"},
    "chains": SPEC | {"chain_length", "load", "edges_per_circuit", "layer", "circuit_state", "depth", "quantity",
                      "stat", "measured"},
}
#: Figures whose CSV rows come from evaluations (each row carries its spec).
EVALUATED = ["payload-scatter", "rotation", "payload-scatter-z", "payload-error", "on-error", "fraction-on",
             "load-active-payload", "load-inactive-payload", "load-active-on", "load-inactive-on", "seizure", "chains"]


@pytest.mark.slow
def test_every_figure_has_one_name_made_from_its_module_in_order():
    names = figure_names()
    assert names == list(EXPECTED) and len(set(names)) == len(names) == len(FIGURES)
    modules = figure_modules()
    assert [m.__name__ for m in modules] == [f"figures.{m}" for m in FIGURES]
    for name, module in zip(names, modules):
        stem = module.__name__.split(".")[-1]
        assert stem.startswith("fig_") and name == stem[4:].replace("_", "-") == figure_name(module)
        assert "NAME" not in vars(module)  # the name is the module's; nothing restates it


@pytest.mark.slow
def test_every_study_figure_appears_once_as_data():
    numbers = {figure_name(m): m.STUDY_FIGURE for m in figure_modules()}
    assert {k: v for k, v in numbers.items() if v is not None} == STUDY
    assert sorted(v for v in numbers.values() if v is not None) == list(range(1, 12))
    assert [k for k, v in numbers.items() if v is None] == ["seizure", "capacity", "boundary", "scaling",
                                                             "error-correction", "chains"]


@pytest.mark.slow
@pytest.mark.parametrize("number, name", [(str(v), k) for k, v in STUDY.items()])
def test_a_study_number_is_refused_with_the_name_that_figure_has_now(number, name):
    with pytest.raises(CircuitsError, match=f"only selects figures by name.*figure {number} of the study is "
                                            f"'{name}'") as info:
        select_figures(["seizure", number])
    assert info.value.parameter == "only"


@pytest.mark.slow
def test_cis_figures_only_with_a_study_number_is_refused_before_any_work(tmp_path, capsys):
    assert main(["figures", "--only", "5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--only selects figures by name" in err
    assert "figure 5 of the study is 'payload-error'" in err
    assert not (tmp_path / "x").exists()  # checked before any work


@pytest.mark.slow
def test_cis_figures_list(capsys, tmp_path):
    assert main(["figures", "--list", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == list(EXPECTED)
    assert {e["name"]: e["study_figure"] for e in entries} == {name: STUDY.get(name) for name in EXPECTED}
    for entry, module in zip(entries, figure_modules()):
        first_paragraph = module.__doc__.strip().split("\n\n")[0]
        assert entry["description"] == first_paragraph  # the docstring opens with one line that says it all
        assert "\n" not in first_paragraph and first_paragraph.endswith(".")
        assert set(entry) == {"name", "study_figure", "description"}
    assert main(["figures", "--list", "--only", "seizure", "payload-error", "--format", "json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)] == ["payload-error", "seizure"]
    assert main(["figures", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(EXPECTED)
    assert "study figure 5" in lines[4] and "not in the study" in lines[11]
    assert main(["figures", "--list", "--out", str(tmp_path / "x")]) == 2  # --list makes nothing
    assert "--list makes nothing" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert main(["figures", "--quick", "--out", str(out)]) == 0
    return out


def read(quick_run, name: str) -> pd.DataFrame:
    """A figure's CSV, every float exactly as written (pandas' default parser may be one unit off in the last place)."""
    return pd.read_csv(quick_run / f"{name}.csv", float_precision="round_trip")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_quick_run_writes_every_figure_and_its_data(quick_run, name):
    columns = EXPECTED[name]
    png = quick_run / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    frame = read(quick_run, name)
    assert len(frame) > 0 and columns <= set(frame.columns), columns - set(frame.columns)
    assert not {"group", "family", "method", "option", "series"} & set(frame.columns)  # the project's words only


@pytest.mark.slow
def test_quick_run_writes_each_figure_under_its_name_and_nothing_else(quick_run):
    files = sorted(p.name for p in quick_run.iterdir() if p.is_file())
    assert files == sorted(f"{name}{ext}" for name in EXPECTED for ext in (".png", ".csv"))


@pytest.mark.slow
@pytest.mark.parametrize("name", EVALUATED)
def test_every_evaluated_row_names_a_spec(quick_run, name):
    """Every row's spec columns make a valid spec, and the columns are spelled as the spec spells them."""
    frame = read(quick_run, name)
    keys = [k for k in spec_keys() if k in frame.columns]
    always = [k for k in keys if k not in ("preset", "chain_length")]  # blank: no preset, not a chain
    assert frame[always].notna().all(axis=None)
    for values in frame[keys].drop_duplicates().to_dict("records"):
        spec = row_spec(values)
        assert {k: v for k, v in spec.to_dict().items() if v is not None} == {
            k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()
            if not (isinstance(v, float) and math.isnan(v))}


def table_row(rows: pd.DataFrame, row) -> float:
    """The ``measured`` of an evaluation table's row matching a figure row (layer, state, quantity, stat, depth)."""
    depth = row.get("depth", math.nan)
    hit = rows[(rows.layer == row["layer"]) & (rows.circuit_state == row["circuit_state"])
               & (rows.quantity == row["quantity"]) & (rows.stat == row["stat"])
               & (rows.depth.isna() if pd.isna(depth) else rows.depth == depth)]
    assert len(hit) == 1
    return float(hit.measured.iloc[0])


#: One row per figure CSV to reproduce: (figure, the row's selection).
REPRODUCED = [
    ("load-active-payload", {"width": 1000, "n_circuits": 500, "n_active": 2, "layer": 3}),
    ("load-inactive-on", {"width": 2000, "n_circuits": 2000, "n_active": 1, "layer": 4}),
    ("payload-error", {"n_active": 2, "layer": 2, "circuit_state": "active", "stat": "mse"}),
    ("chains", {"system": "rotation-chains", "chain_length": 3, "n_circuits": 400, "layer": 4, "depth": 3}),
    ("error-correction", {"kind": "sweep", "error_correction": "step:0.45", "n_circuits": 150, "n_active": 2,
                          "layer": 4, "circuit_state": "inactive", "quantity": "on", "stat": "mse"}),
]


def pick(frame: pd.DataFrame, where: dict) -> pd.Series:
    hit = frame
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) >= 1, where
    return hit.iloc[0]


@pytest.mark.slow
@pytest.mark.parametrize("name, where", REPRODUCED, ids=[r[0] for r in REPRODUCED])
def test_a_figure_row_is_reproduced_exactly_by_evaluate(quick_run, name, where):
    row = pick(read(quick_run, name), where)
    ev = evaluate(ExperimentSpec.from_dict({k: row[k] for k in spec_keys() if k in row.index and not pd.isna(row[k])}))
    assert table_row(ev.table, row) == row["measured"]  # bit for bit: the CSV keeps every digit


def cli_flags(row) -> list[str]:
    """``cis evaluate`` flags from a CSV row's spec columns (blank columns left out)."""
    flags = []
    for key in spec_keys():
        if key not in row.index or pd.isna(row[key]):
            continue
        if key == "ideal":
            flags += ["--ideal"] if row[key] else []
        else:
            flags += [f"--{key.replace('_', '-')}", str(row[key])]
    return flags


@pytest.mark.slow
def test_a_figure_row_is_reproduced_exactly_by_cis_evaluate(quick_run, capsys):
    row = pick(read(quick_run, "load-active-payload"), {"width": 1400, "n_circuits": 1000, "n_active": 3, "layer": 4})
    flags = cli_flags(row)
    assert flags[:4] == ["--system", "rotation", "--error-correction", "none"]
    capsys.readouterr()
    assert main(["evaluate", *flags, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert table_row(pd.DataFrame(out["rows"]).assign(depth=lambda f: f.depth.astype("float64")), row) == \
        row["measured"]


@pytest.mark.slow
def test_a_payload_panel_is_the_evaluations_read_out(quick_run):
    """The rows of payload-scatter-z name a sample of the evaluation of their spec: its read-out, exactly."""
    frame = read(quick_run, "payload-scatter-z")
    rows = frame[(frame.n_active == 2) & (frame.kind == "read-out x_hat")]
    ev = evaluate(row_spec(rows.iloc[0]))
    for r in rows.itertuples():
        assert ev.active[r.sample, 0] == r.circuit
        assert (ev.estimate_payload[r.layer, r.sample, 0] == [r.x0, r.x1]).all()


@pytest.mark.slow
def test_a_boundary_row_is_reproduced_by_find_boundary(quick_run):
    frame = read(quick_run, "boundary")
    row = pick(frame, {"width": 1000, "n_active": 2})
    values = {k: row[k] for k in spec_keys() if k in row.index}
    spec = ExperimentSpec.from_dict({**values, "n_circuits": int(row.n_active)})
    b = find_boundary(spec, criterion=row.criterion, level=row.level,
                      on_error=None if pd.isna(row.on_error) else row.on_error, n_seeds=int(row.n_seeds),
                      rtol=row.rtol, confidence=row.confidence)
    assert b.critical_load == row.critical_load and b.capacity == row.capacity
    seeds = frame[(frame.width == 1000) & (frame.n_active == 2) & (frame.criterion == row.criterion)]
    assert seeds.crossing_seed.tolist() == [row.seed + i for i in range(int(row.n_seeds))]
    assert [c.below for c in b.crossings] == seeds.crossing_below.tolist()


@pytest.mark.slow
def test_quick_run_numbers_follow_the_construction(quick_run):
    errors = read(quick_run, "payload-error")
    assert set(errors.layer) == set(range(6)) and set(errors.n_active) == {1, 2, 3}
    assert (errors[errors.layer == 0].role == "input").all() and errors[errors.layer == 0].predicted.isna().all()
    # z = 1: reading back a lone circuit's own input is exact (layer 0 measured by circuits.evaluate)
    one = errors[(errors.n_active == 1) & (errors.circuit_state == "active") & (errors.stat == "mse")]
    assert one[one.layer == 0].measured.iloc[0] < 1e-10
    # ... and an inactive circuit shares at most one of the active circuit's S neurons: it reads at most 1/S
    on = read(quick_run, "on-error")
    zero = on[(on.layer == 0) & (on.circuit_state == "inactive") & (on.stat == "worst")].set_index("n_active")
    assert zero.measured[1] == pytest.approx(1 / 6, rel=1e-5)
    assert zero.measured[2] == pytest.approx(2 / 6, rel=1e-5)
    # the figure's theory is theory.predicted_mse: inactive z p at every layer >= 1
    p = 4 / 1000 - 1 / (6 * 557)
    inactive = errors[(errors.circuit_state == "inactive") & (errors.stat == "mse") & (errors.layer >= 1)]
    assert np.allclose(inactive.predicted, inactive.n_active * p)
    assert set(errors.batch_size) == {557, 200}  # z = 1: T random draws; z >= 2: 200 in --quick
    frac = read(quick_run, "fraction-on")
    assert np.allclose(frac.predicted, frac.n_active * 6 * 4 / 1000)
    sweep_rows = read(quick_run, "load-active-payload")
    nets = sweep_rows[["width", "n_circuits"]].drop_duplicates()
    assert sorted(map(tuple, nets.to_numpy())) == sorted(load_sweep_networks(quick=True))
    assert len(load_sweep_networks(quick=True)) == 14 and len(load_sweep_networks()) == 41
    assert set(sweep_rows.batch_size) == {20} and set(sweep_rows.n_layers) == {4}
    assert np.allclose(sweep_rows.load, sweep_rows.n_circuits * (4 / sweep_rows.width) ** 2)
    assert (sweep_rows.shares_neurons == (sweep_rows.n_circuits * 4 > sweep_rows.width)).all()
    seizure = read(quick_run, "seizure")
    assert len(seizure) == 14 * 4
    # the active circuits' first seizure can come no earlier than the any-circuit one
    both = seizure.fillna(99)
    assert (both.active_seizure_layer >= both.seizure_layer).all()
    # z >= 2: an inactive circuit sharing a neuron with two active ones reads 2/S > 0.25 at layer 1
    assert (seizure[seizure.n_active >= 2].seizure_layer == 1).all()


@pytest.mark.slow
def test_boundary_figure_data(quick_run):
    """Every crossing lies above the load below which no neuron is shared, inside its interval."""
    from figures.fig_boundary import QUICK

    from figures.fig_boundary import CRITERIA

    frame = read(quick_run, "boundary")
    assert len(frame) == len(CRITERIA) * len(QUICK["widths"]) * len(QUICK["active"]) * QUICK["seeds"]
    assert set(frame.criterion) == set(CRITERIA)
    assert (frame.disjoint_load == (frame.width // 4 // 6) * (4 / frame.width) ** 2).all()
    assert (frame.crossing_load > frame.disjoint_load).all()
    # the ratio criteria cross well above the first shared neuron; theory is there for payload (fitted)
    payload = frame[frame.criterion == "payload"]
    assert (payload.crossing_load > 2 * payload.disjoint_load).all() and payload.predicted.notna().all()
    high = frame.interval_high.fillna(np.inf)  # blank: some seed saw no crossing up to capacity
    assert (frame.interval_low <= frame.critical_load).all() and (frame.critical_load <= high).all()


@pytest.mark.slow
def test_error_correction_figure_data(quick_run):
    from figures.fig_error_correction import OPTIONS, QUICK

    frame = read(quick_run, "error-correction")
    sweep_rows, bound = frame[frame.kind == "sweep"], frame[frame.kind == "boundary"]
    assert set(OPTIONS) == set(sweep_rows.error_correction)
    assert np.allclose(sweep_rows.load, sweep_rows.n_circuits * (4 / sweep_rows.width) ** 2)  # the base d
    assert set(sweep_rows[sweep_rows.stat == "mse"].computation_layer) == {1, 2, 3, 4}
    cleanup = sweep_rows[(sweep_rows.error_correction == "cleanup") & (sweep_rows.stat == "mse")]
    assert set(cleanup.layer) == {1, 3, 5, 7}  # clean-up layers in between
    rates = sweep_rows[sweep_rows.stat == "failure_rate"].measured
    assert ((rates >= 0) & (rates <= 1)).all()
    # redundant:2 (d = 6) holds fewer circuits at the same D: T = 150 does not fit at D/6 = 100 slots
    assert set(sweep_rows[sweep_rows.error_correction == "redundant:2"].n_circuits) == {60}
    assert bound.n_circuits.isna().all() and set(bound.n_active) == set(QUICK["active"])
    high = bound.interval_high.fillna(np.inf)  # blank: some seed saw no crossing up to capacity
    assert (bound.interval_low <= bound.critical_load).all() and (bound.critical_load <= high).all()
    assert (sweep_rows[~sweep_rows.error_correction.str.contains("tuned-chi")].tuned_chi_scale == 1.0).all()


@pytest.mark.slow
def test_capacity_figure_data(quick_run):
    from figures.fig_capacity import METHODS, REDUNDANCIES

    frame = read(quick_run, "capacity")
    assert set(frame.assignment) == set(METHODS) == {"prime-step", "finite-field"}
    assert set(frame.redundancy) == set(REDUNDANCIES)
    for rec in frame.sample(12, random_state=0).to_dict("records"):
        assert rec["capacity"] == capacity(rec["n_slots"], rec["redundancy"], rec["assignment"])
        assert rec["packing_bound"] == packing_bound(rec["n_slots"], rec["redundancy"])


@pytest.mark.slow
def test_chains_figure_data(quick_run):
    from figures.fig_chains import CHAINS

    frame = read(quick_run, "chains")
    L = CHAINS["n_layers"]
    assert set(frame.system) == {"rotation-chains", "rotation-fan-in"}
    assert set(frame.chain_length.dropna()) == set(CHAINS["chain_lengths"])
    assert set(frame.n_circuits) == set(CHAINS["circuits"]) and set(frame.layer) == set(range(L + 1))
    assert np.allclose(frame.load, frame.n_circuits * (4 / CHAINS["width"]) ** 2)
    # circuits that share neurons err; the error grows from layer 1 to layer L
    total = frame[frame.depth.isna()].fillna({"chain_length": 0}).pivot_table(
        index=["system", "chain_length", "n_circuits"], columns="layer", values="measured")
    assert len(total) == (len(CHAINS["chain_lengths"]) + 1) * len(CHAINS["circuits"])
    assert (total[1] > 0).all() and (total[L] > total[1]).all()


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_data(quick_run, tmp_path):
    again = render(tmp_path / "a", only=["payload-scatter", "load-active-payload"], quick=True, seed=0, log=None)
    other = render(tmp_path / "b", only=["payload-scatter"], quick=True, seed=1, log=None)["payload-scatter"]
    assert list(again) == ["payload-scatter", "load-active-payload"]
    assert [p.name for p in again["payload-scatter"]] == ["payload-scatter.png", "payload-scatter.csv"]
    for path in again["payload-scatter"] + again["load-active-payload"]:  # a fresh sweep: the same bytes
        assert path.read_bytes() == (quick_run / path.name).read_bytes()
    assert other[1].read_bytes() != again["payload-scatter"][1].read_bytes()
    assert "seed" in pd.read_csv(other[1]).columns and set(pd.read_csv(other[1]).seed) == {1}


@pytest.mark.slow
def test_a_rerun_resumes_the_sweeps_from_disk(quick_run):
    sweeps = sorted(p.name for p in (quick_run / "sweeps").iterdir())
    assert sweeps == ["boundaries", "chains-quick-seed0", "error-correction-quick-seed0", "load-quick-seed0",
                      "scaling-quick-seed0"]
    before = (quick_run / "seizure.csv").read_bytes()
    parts = quick_run / "sweeps" / "load-quick-seed0" / "parts"
    stamps = {p.name: p.stat().st_mtime_ns for p in parts.iterdir()}
    render(quick_run, only=["seizure"], quick=True, seed=0, log=None)
    assert (quick_run / "seizure.csv").read_bytes() == before
    assert {p.name: p.stat().st_mtime_ns for p in parts.iterdir()} == stamps  # nothing evaluated again


@pytest.mark.slow
def test_step_figure_data_is_the_exact_step_function(tmp_path):
    assert main(["figures", "--only", "step", "--out", str(tmp_path)]) == 0
    frame = pd.read_csv(tmp_path / "step.csv").pivot(index="a", columns="curve", values="value")
    a = frame.index.to_numpy()
    assert a.min() == pytest.approx(-0.1) and a.max() == pytest.approx(1.1)
    assert np.all(frame.loc[a <= 0.25, "difference"] == 0.0)
    assert np.allclose(frame.loc[a >= 0.75, "difference"], 1.0)
    assert np.allclose(frame["difference"], np.clip(2 * a - 0.5, 0, 1))
    assert step_frame(n=5).shape == (15, 3)


@pytest.mark.slow
def test_unknown_figure_name_is_a_clear_error(tmp_path, capsys):
    assert main(["figures", "--only", "payload-error", "99", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "only must name figures" in err and "'99'" in err
    assert not (tmp_path / "x").exists()  # checked before any work


@pytest.mark.slow
def test_docstring_examples_of_the_figures_package_run():
    import doctest

    import figures
    from figures import _data, _runner, _scatter, _style, fig_capacity, fig_chains, fig_scaling, fig_seizure, fig_step

    for mod in (figures, _data, _runner, _scatter, _style, fig_capacity, fig_chains, fig_scaling, fig_seizure,
                fig_step):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, mod.__name__


# ------------------------------------------------------------------ chains (not in the study)
@pytest.mark.slow
def test_chains_are_exact_without_shared_neurons_and_count_edges(tmp_path):
    from figures.fig_chains import chain_frame, chain_grid

    # T S = 24 = D/d: no two circuits share a neuron, so chains and fan-in are exact
    grid = chain_grid(width=96, redundancy=2, n_layers=3, active=6, chain_lengths=(1, 2, 3), circuits=(12,),
                      batch_size=10, seed=0, fan_in=True)
    frame = chain_frame(sweep(grid, tmp_path, progress=False))
    assert EXPECTED["chains"] <= set(frame.columns) and frame.measured.max() < 1e-10
    key = frame.system + frame.chain_length.map(lambda k: "" if pd.isna(k) else f" K = {int(k)}")
    edges = frame.groupby(key).edges_per_circuit.first()
    assert edges.to_dict() == pytest.approx({"rotation-chains K = 1": 0.0, "rotation-chains K = 2": 1 / 2,
                                             "rotation-chains K = 3": 2 / 3, "rotation-fan-in": 2 / 3})
    depths = frame.dropna(subset=["depth"]).groupby(key).depth.unique()
    assert {k: sorted(v) for k, v in depths.items()} == {"rotation-chains K = 1": [1], "rotation-chains K = 2": [1, 2],
                                                         "rotation-chains K = 3": [1, 2, 3],
                                                         "rotation-fan-in": [1, 2]}
    assert len(frame) == 4 * (1 + 2 + 3 + 2) + 4 * 4  # per layer 0..3: the depths, and the total per system
