"""Sweeps: the table's schema, seeds from the spec, resuming, kill-safety, parallel runs."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import circuits.experiments._sweep as sweep_module
from circuits import CircuitsError, ExperimentSpec, evaluate, sweep
from circuits.experiments import read_grid, spec_keys
from circuits.cli import main

#: Tiny: 2 values of T x 2 seeds, a few hundredths of a second per run.
TINY = {"width": 400, "n_circuits": [40, 60], "n_layers": 2, "n_active": 1, "batch_size": 30, "seed": [7, 8]}
#: Larger runs (a few tenths of a second each), for the kill test.
SLOW = {"width": 800, "n_circuits": [100, 140], "n_layers": 3, "n_active": [1, 2], "batch_size": 150, "seed": [3, 4]}

SPEC_COLUMNS = [k for k in spec_keys() if k != "chain_length"]
COLUMNS = (["run"] + SPEC_COLUMNS + ["circuit_width", "base_width", "network_layers", "load", "tuned_chi_scale",
                                     "failure_rate", "seizure_layer", "system_seed", "network_seed",
                                     "evaluation_seed", "calibration_seed", "layer", "computation_layer", "role",
                                     "circuit_state", "depth", "quantity", "stat", "measured", "predicted"])


def _run(tmp_path, name, grid=TINY, **kwargs):
    kwargs.setdefault("progress", False)
    return sweep(grid, tmp_path / name, **kwargs)


def test_schema_of_results(tmp_path):
    table = _run(tmp_path, "a", csv=True)
    saved = pd.read_parquet(tmp_path / "a" / "results.parquet")
    pd.testing.assert_frame_equal(saved, table)
    assert list(table.columns) == COLUMNS
    key = ["run", "layer", "circuit_state", "depth", "quantity", "stat"]
    assert not table.duplicated(key).any()
    # runs x (layers 0..2 x states x quantities x stats + unowned on and payload, count and mass, at layers 1, 2)
    assert len(table) == 4 * (3 * 2 * 2 * 2 + 2 * 2 * 2)
    assert table.groupby("run")["n_circuits"].unique().map(list).to_dict() == {0: [40], 1: [40], 2: [60], 3: [60]}
    assert (table["load"] == table["n_circuits"] * (4 / 400) ** 2).all()
    computation = (table.role == "computation") & (table.circuit_state != "unowned")
    assert table.loc[computation, "predicted"].isna().eq(table.loc[computation, "stat"] == "worst").all()
    spurious = table.circuit_state == "unowned"
    assert table.loc[~computation & ~spurious, "predicted"].isna().all()  # inputs
    assert table.loc[spurious, "predicted"].notna().eq(table.loc[spurious, "layer"] == 2).all()  # theory: layer 2
    for col in ("width", "n_circuits", "layer", "run", "seed", "system_seed"):
        assert pd.api.types.is_integer_dtype(table[col]), col
    assert table["ideal"].dtype == bool and str(table["seizure_layer"].dtype) == "Int64"
    csv = pd.read_csv(tmp_path / "a" / "results.csv")
    assert list(csv.columns) == COLUMNS and len(csv) == len(table)
    np.testing.assert_allclose(csv["measured"], table["measured"], rtol=1e-12)
    manifest = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert manifest["grid"]["n_circuits"] == [40, 60] and len(manifest["runs"]) == 4


def test_rows_are_the_evaluation_of_the_spec_they_record(tmp_path):
    """Every run is reproducible from its spec columns through circuits.evaluate alone."""
    table = _run(tmp_path, "a")
    run = table[table.run == 3]
    first = run.iloc[0]
    spec = ExperimentSpec.from_dict({k: first[k].item() if hasattr(first[k], "item") else first[k]
                                     for k in SPEC_COLUMNS})
    ev = evaluate(spec)
    np.testing.assert_array_equal(run["measured"].to_numpy(), ev.table["measured"].to_numpy())
    worst = ev.sample_worst_on[1:].max(axis=0)
    assert first.failure_rate == np.mean(worst > 0.25)
    assert first.evaluation_seed == spec.seeds().evaluation


@pytest.mark.slow
def test_same_grid_same_table_other_seed_other_numbers(tmp_path):
    a = _run(tmp_path, "a")
    b = _run(tmp_path, "b")
    pd.testing.assert_frame_equal(a, b)
    other = _run(tmp_path, "c", {**TINY, "seed": [9, 10]})
    assert not np.array_equal(other["evaluation_seed"], a["evaluation_seed"])
    assert not np.array_equal(other["measured"], a["measured"])


@pytest.mark.slow
def test_seeds_are_keyed_by_identity_not_position(tmp_path):
    """A run's numbers do not depend on the grid around it; z does not change the network."""
    small = _run(tmp_path, "a", {**TINY, "n_circuits": [60]})
    big = _run(tmp_path, "b", {**TINY, "n_circuits": [40, 60], "n_active": [1, 2]})
    same = big[(big.n_circuits == 60) & (big.n_active == 1)].drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(same, small.drop(columns="run"))
    per_run = big.drop_duplicates("run")
    for _, grp in per_run.groupby(["n_circuits", "seed"]):
        assert grp["network_seed"].nunique() == 1 and grp["system_seed"].nunique() == 1
        assert grp["evaluation_seed"].nunique() == 2


@pytest.mark.slow
def test_union_of_grids_and_systems_with_parameters(tmp_path):
    grid = [TINY, {"system": "rotation-chains", "chain_length": [2, 3], "width": 480, "n_circuits": 36,
                   "n_layers": 3, "error_correction": ["none", "cleanup"], "batch_size": 20}]
    table = _run(tmp_path, "u", grid)
    runs = table.drop_duplicates("run")
    assert len(runs) == 4 + 4
    assert runs.system.tolist() == ["rotation"] * 4 + ["rotation-chains"] * 4
    assert runs.chain_length.isna().sum() == 4 and runs.chain_length.dropna().tolist() == [2, 2, 3, 3]
    cleanup = runs[runs.error_correction == "cleanup"]
    assert (cleanup.network_layers == 5).all() and set(table[table.run.isin(cleanup.run)].role) == {
        "input", "computation", "cleanup"}
    assert table[(table.system == "rotation-chains")].depth.notna().any()


@pytest.mark.slow
def test_worker_count_does_not_change_the_table(tmp_path):
    one = _run(tmp_path, "one", workers=1)
    two = _run(tmp_path, "two", workers=2)
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.slow
def test_executor_hook(tmp_path):
    one = _run(tmp_path, "one")
    with ThreadPoolExecutor(2) as pool:
        pooled = _run(tmp_path, "pool", executor=pool)
    pd.testing.assert_frame_equal(one, pooled)


@pytest.mark.slow
def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    one = _run(tmp_path, "one")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        on_dask = _run(tmp_path, "dask", executor=client.get_executor())
    pd.testing.assert_frame_equal(one, on_dask)


def test_rerun_skips_finished_runs(tmp_path, monkeypatch):
    first = _run(tmp_path, "a")
    parts = sorted((tmp_path / "a" / "parts").glob("*.parquet"))
    assert len(parts) == 4
    stamps = [p.stat().st_mtime_ns for p in parts]

    def no_work(*args, **kwargs):
        raise AssertionError("a finished run was evaluated again")

    monkeypatch.setattr(sweep_module, "run_rows", no_work)
    again = _run(tmp_path, "a")
    pd.testing.assert_frame_equal(first, again)
    assert [p.stat().st_mtime_ns for p in parts] == stamps


def test_a_folder_of_another_grid_is_refused(tmp_path):
    _run(tmp_path, "a")
    with pytest.raises(CircuitsError, match="another grid"):
        _run(tmp_path, "a", {**TINY, "n_circuits": [40]})


@pytest.mark.parametrize("grid, key", [
    ({"widht": [400]}, "widht"),
    ({"width": [402]}, "width"),
    ({"width": ["wide"]}, "width"),
    ({"width": []}, "width"),
    ({"width": 400, "n_circuits": 100}, "n_circuits"),  # above the capacity 86 of D/d = 100, S = 6
    ({"n_circuits": 3, "n_active": 4}, "n_active"),
    ({"chi_scale": -1.0}, "chi_scale"),
    ({"system": "triangle"}, "system"),
    ({"weight_scheme": "magic"}, "weight_scheme"),
    ({"ideal": "yes"}, "ideal"),
    ({"seed": -1}, "seed"),
    ({"redundancy": 300, "width": 400}, "redundancy"),
    ({"chain_length": 3}, "chain_length"),
])
def test_bad_grid_is_rejected_before_any_work(tmp_path, grid, key):
    with pytest.raises(CircuitsError, match=key):
        sweep(grid, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_grid_files_and_cli(tmp_path, capsys):
    (tmp_path / "g.toml").write_text('width = 400\nn_circuits = [40, 60]\nn_layers = 2\nn_active = 1\n'
                                     'batch_size = 30\nseed = [7, 8]\n')
    (tmp_path / "g.json").write_text(json.dumps(TINY))
    assert read_grid(tmp_path / "g.toml") == read_grid(tmp_path / "g.json") == TINY
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "--out", str(tmp_path / "cli"), "--no-progress",
                 "--csv", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 4
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cli" / "results.parquet"), _run(tmp_path, "api"))
    assert (tmp_path / "cli" / "results.csv").exists()
    # flags override the file
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "--out", str(tmp_path / "flags"), "--n-circuits", "40",
                 "--seed", "7", "--no-progress"]) == 0
    assert pd.read_parquet(tmp_path / "flags" / "results.parquet")["n_circuits"].unique().tolist() == [40]
    (tmp_path / "bad.json").write_text('{"width": [400], "batch_size": [0]}')
    assert main(["sweep", "--grid", str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad")]) == 2
    assert "batch_size" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_sweep_loses_nothing_and_resumes(tmp_path):
    """Kill a sweep mid-way (SIGKILL): the parts left are whole; the rerun finishes the same table."""
    out = tmp_path / "killed"
    code = textwrap.dedent(f"""
        from circuits import sweep
        sweep({SLOW!r}, {str(out)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    parts = out / "parts"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if parts.exists() and len(list(parts.glob("*.parquet"))) >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished (or failed) before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    finished = sorted(parts.glob("*.parquet"))
    n_runs = 2 * 2 * 2
    assert 2 <= len(finished) < n_runs
    assert not (out / "results.parquet").exists()
    for path in finished:  # every part under a final name is whole
        assert len(pd.read_parquet(path)) == 4 * 2 * 2 * 2 + 3 * 2 * 2
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    resumed = sweep(SLOW, out, progress=False)
    assert {p: p.stat().st_mtime_ns for p in finished} == stamps  # not redone
    assert not list(parts.glob(".*.tmp"))  # the killed writer's temporary file is gone
    straight = sweep(SLOW, tmp_path / "straight", progress=False)
    pd.testing.assert_frame_equal(resumed, straight)
