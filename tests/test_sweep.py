"""Sweeps: the table's schema, seeds from one root seed, resuming, kill-safety, parallel runs."""

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

import circuits._sweep as sweep_module
from circuits import CircuitsError, build, evaluate, make_family, read_grid, sweep
from circuits.cli import main

#: Tiny: 2 configurations x 2 seeds, a few hundredths of a second per run.
TINY = {"width": 400, "circuits": [40, 60], "layers": 2, "active": 1, "batch": 30, "seeds": 2}
#: Larger runs (a few tenths of a second each), for the kill test.
SLOW = {"width": 800, "circuits": [100, 140], "layers": 3, "active": [1, 2], "batch": 150, "seeds": 2}

COLUMNS = ["config", "seed", "family", "width", "circuits", "redundancy", "layers", "method", "chi_scale",
           "assignment", "active", "batch", "ideal", "circuit_width", "family_seed", "build_seed", "eval_seed",
           "load", "failure_rate", "seizure_layer", "layer", "group", "quantity", "stat", "measured", "predicted"]


def _run(tmp_path, name, grid=TINY, **kwargs):
    kwargs.setdefault("root_seed", 7)
    kwargs.setdefault("progress", False)
    return sweep(grid, tmp_path / name, **kwargs)


def test_schema_of_results(tmp_path):
    table = _run(tmp_path, "a", csv=True)
    saved = pd.read_parquet(tmp_path / "a" / "results.parquet")
    pd.testing.assert_frame_equal(saved, table)
    assert list(table.columns) == COLUMNS
    # one row per (configuration, seed, layer, group, quantity, stat)
    key = ["config", "seed", "layer", "group", "quantity", "stat"]
    assert not table.duplicated(key).any()
    assert len(table) == 2 * 2 * 2 * 2 * 2 * 2  # configs, seeds, layers, groups, quantities, stats
    assert table.groupby("config")["circuits"].unique().map(list).to_dict() == {0: [40], 1: [60]}
    assert (table["load"] == table["circuits"] * (4 / 400) ** 2).all()
    assert table["predicted"].isna().eq(table["stat"] == "worst").all()
    for col in ("width", "circuits", "layer", "config", "seed", "family_seed"):
        assert pd.api.types.is_integer_dtype(table[col]), col
    assert table["ideal"].dtype == bool and str(table["seizure_layer"].dtype) == "Int64"
    csv = pd.read_csv(tmp_path / "a" / "results.csv")
    assert list(csv.columns) == COLUMNS and len(csv) == len(table)
    np.testing.assert_allclose(csv["measured"], table["measured"], rtol=1e-12)
    manifest = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert manifest["root_seed"] == 7 and manifest["grid"]["circuits"] == [40, 60]


def test_rows_are_the_evaluation_of_the_stated_seeds(tmp_path):
    """Every run is reproducible from the seeds in its rows through the public API alone."""
    table = _run(tmp_path, "a")
    run = table[(table.config == 1) & (table.seed == 1)]
    first = run.iloc[0]
    fam = make_family("rotation", 60, seed=int(first.family_seed))
    net = build(fam, width=400, redundancy=6, n_layers=2, seed=int(first.build_seed))
    ev = evaluate(net, n_active=1, batch_size=30, seed=int(first.eval_seed))
    np.testing.assert_array_equal(run["measured"].to_numpy(), ev.table["measured"].to_numpy())
    worst = ev.sample_worst_on[1:].max(axis=0)
    assert first.failure_rate == np.mean(worst > 0.25)


def test_seeds_derive_from_the_root_seed(tmp_path):
    a = _run(tmp_path, "a")
    b = _run(tmp_path, "b")
    pd.testing.assert_frame_equal(a, b)
    other = _run(tmp_path, "c", root_seed=8)
    assert not np.array_equal(other["eval_seed"], a["eval_seed"])
    assert not np.array_equal(other["measured"], a["measured"])
    # the two seeds of one configuration differ
    assert a.groupby("config")["build_seed"].nunique().eq(2).all()


def test_seeds_are_keyed_by_identity_not_position(tmp_path):
    """A run's numbers do not depend on the grid around it; z does not change the network."""
    small = _run(tmp_path, "a", {**TINY, "circuits": [60]})
    big = _run(tmp_path, "b", {**TINY, "circuits": [40, 60], "active": [1, 2]})
    same = big[(big.circuits == 60) & (big.active == 1)].drop(columns="config").reset_index(drop=True)
    pd.testing.assert_frame_equal(same, small.drop(columns="config"))
    per_run = big.drop_duplicates(["config", "seed"])
    for _, grp in per_run.groupby(["circuits", "seed"]):
        assert grp["build_seed"].nunique() == 1 and grp["family_seed"].nunique() == 1
        assert grp["eval_seed"].nunique() == 2


def test_worker_count_does_not_change_the_table(tmp_path):
    one = _run(tmp_path, "one", workers=1)
    two = _run(tmp_path, "two", workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_executor_hook(tmp_path):
    one = _run(tmp_path, "one")
    with ThreadPoolExecutor(2) as pool:
        pooled = _run(tmp_path, "pool", executor=pool)
    pd.testing.assert_frame_equal(one, pooled)


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    one = _run(tmp_path, "one")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = _run(tmp_path, "dask", executor=client.get_executor())
    pd.testing.assert_frame_equal(one, on_dask)


def test_rerun_skips_finished_runs(tmp_path, monkeypatch):
    first = _run(tmp_path, "a")
    parts = sorted((tmp_path / "a" / "parts").glob("*.parquet"))
    assert len(parts) == 4
    stamps = [p.stat().st_mtime_ns for p in parts]

    def no_work(run):
        raise AssertionError("a finished run was evaluated again")

    monkeypatch.setattr(sweep_module, "evaluate_run", no_work)
    again = _run(tmp_path, "a")
    pd.testing.assert_frame_equal(first, again)
    assert [p.stat().st_mtime_ns for p in parts] == stamps


@pytest.mark.parametrize("grid, key", [
    ({"widht": [400]}, "widht"),
    ({"width": [402]}, "width"),
    ({"width": ["wide"]}, "width"),
    ({"width": []}, "width"),
    ({"circuits": [10, 10]}, "circuits"),
    ({"width": 400, "circuits": 100}, "circuits"),  # above the capacity 86 of D/d = 100, S = 6
    ({"circuits": 3, "active": 4}, "active"),
    ({"chi-scale": -1.0}, "chi-scale"),
    ({"family": "triangle"}, "family"),
    ({"method": "magic"}, "method"),
    ({"ideal": "yes"}, "ideal"),
    ({"seeds": 0}, "seeds"),
    ({"redundancy": 300, "width": 400}, "redundancy"),
])
def test_bad_grid_is_rejected_before_any_work(tmp_path, grid, key):
    with pytest.raises(CircuitsError, match=f"grid key '{key}'"):
        sweep(grid, tmp_path / "out", root_seed=0, progress=False)
    assert not (tmp_path / "out").exists()


def test_grid_files_and_cli(tmp_path, capsys):
    (tmp_path / "g.toml").write_text('width = 400\ncircuits = [40, 60]\nlayers = 2\nactive = 1\n'
                                     'batch = 30\nseeds = 2\n')
    (tmp_path / "g.json").write_text(json.dumps(TINY))
    assert read_grid(tmp_path / "g.toml") == read_grid(tmp_path / "g.json") == TINY
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "--out", str(tmp_path / "cli"), "--seed", "7",
                 "--no-progress", "--csv", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 4
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cli" / "results.parquet"), _run(tmp_path, "api"))
    assert (tmp_path / "cli" / "results.csv").exists()
    # flags override the file
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "--out", str(tmp_path / "flags"), "--circuits", "40",
                 "--seeds", "1", "--no-progress"]) == 0
    assert pd.read_parquet(tmp_path / "flags" / "results.parquet")["circuits"].unique().tolist() == [40]
    (tmp_path / "bad.json").write_text('{"width": [400], "batch": [0]}')
    assert main(["sweep", "--grid", str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad")]) == 2
    assert "batch" in capsys.readouterr().err


def test_killed_sweep_loses_nothing_and_resumes(tmp_path):
    """Kill a sweep mid-way (SIGKILL): the parts left are whole; the rerun finishes the same table."""
    out = tmp_path / "killed"
    code = textwrap.dedent(f"""
        from circuits import sweep
        sweep({SLOW!r}, {str(out)!r}, root_seed=3, progress=False)
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
        assert len(pd.read_parquet(path)) == 3 * 2 * 2 * 2
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    resumed = sweep(SLOW, out, root_seed=3, progress=False)
    assert {p: p.stat().st_mtime_ns for p in finished} == stamps  # not redone
    assert not list(parts.glob(".*.tmp"))
    straight = sweep(SLOW, tmp_path / "straight", root_seed=3, progress=False)
    pd.testing.assert_frame_equal(resumed, straight)
