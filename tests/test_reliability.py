"""Reliability: one fast test per class of defect the fault campaign looks for.

The campaign itself (``scripts/reliability/fault_campaign.py``, minutes) runs hundreds of bad command lines,
bad API calls and faults; these tests pin each class: misuse of the network refused, custom codecs
that return NaN or the wrong shape refused, a huge input refused within a second, two sweeps on one
folder, a damaged sweep part or data set, results identical whatever the thread count, every
command-line error one line naming the flag, an OS error on an output named as ``--out``, a closed
standard output.
"""

import os
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

import circuits
from circuits import CircuitsError, ExperimentSpec, build, custom_circuits, evaluate, rotation_circuits, sweep
from circuits.cli import SUBCOMMANDS, main
from circuits.experiments._sweep import folder_lock
from circuits.export import load_dataset

TINY = {"width": 400, "n_circuits": [40, 80], "n_layers": 2, "n_active": 1, "batch_size": 20}
SMALL = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]


@pytest.fixture(scope="module")
def net():
    return build(rotation_circuits(50, seed=0), width=400, redundancy=3, n_layers=2, seed=0)


def _one_line_error(capsys, flag):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and flag in err, err
    return err


# ----------------------------------------------------------------------------- the network's own checks
GOOD = np.array([[0, 1], [2, 3]])


@pytest.mark.parametrize("call, parameter", [
    (lambda n: n.forward(np.array([[-1, 1], [2, 3]]), np.zeros((2, 2, 4))), "active"),  # not circuit T-1
    (lambda n: n.forward(np.array([[1, 1], [2, 3]]), np.zeros((2, 2, 4))), "active"),  # duplicates do not add up
    (lambda n: n.forward(np.array([[0.0, 1.0], [2.0, 3.0]]), np.zeros((2, 2, 4))), "active"),
    (lambda n: n.forward(GOOD, np.full((2, 2, 4), np.nan)), "inputs"),
    (lambda n: n.forward(GOOD, np.full((2, 2, 4), "a")), "inputs"),
    (lambda n: n.forward(GOOD, np.zeros((2, 2, 3))), "inputs"),
    (lambda n: n.step(1, torch.zeros(2, 4, 101)), "prev"),  # any trailing size used to pass
    (lambda n: n.step(2, torch.full((2, 4, 100), float("nan"))), "prev"),
    (lambda n: n.step(2, torch.zeros(2, 4, 100, dtype=torch.int64)), "prev"),
    (lambda n: n.step(0, torch.zeros(2, 4, 100)), "layer"),
    (lambda n: n.step(1, torch.zeros(2, 4, 100), active=np.array([[0, 1]])), "active"),
    (lambda n: n.read_out(torch.zeros(2, 4, 100), -1), "layer"),  # used to read layer L
    (lambda n: n.read_out(torch.zeros(2, 4, 100), 1, [[-1], [0]]), "circuits"),
    (lambda n: n.read_out(torch.full((2, 4, 100), float("inf")), 1), "acts"),
    (lambda n: n.active_mask(np.array([[-1, 1]]), 1), "active"),
    (lambda n: n.active_mask(GOOD, -1), "layer"),
    (lambda n: n.place(GOOD, np.zeros((2, 2, 5))), "values"),
    (lambda n: n.place(GOOD, np.full((2, 2, 4), np.nan)), "values"),
    (lambda n: n.read(next(iter(n.trace(GOOD, np.zeros((2, 2, 4))))), [[50], [0]]), "circuits"),
])
def test_network_misuse_is_refused_naming_the_parameter(net, call, parameter):
    with pytest.raises(CircuitsError) as err:
        call(net)
    assert err.value.parameter == parameter


@pytest.mark.parametrize("active, payloads, parameter", [
    ([[-1, 1]], None, "active"), ([[3, 3]], None, "active"), ([[0.5, 1.5]], None, "active"),
    ([[0, 1]], np.full((1, 2, 2), np.nan), "payloads"), ([[0, 1]], np.zeros((1, 2, 3)), "payloads"),
])
def test_evaluate_refuses_bad_active_sets_and_payloads(net, active, payloads, parameter):
    with pytest.raises(CircuitsError) as err:
        evaluate(net, active=np.array(active), payloads=payloads)
    assert err.value.parameter == parameter


def test_evaluate_refuses_a_bad_seed_and_a_batch_beyond_memory_at_once(net):
    with pytest.raises(CircuitsError, match="seed must be"):
        evaluate(net, n_active=2, batch_size=10, seed=-1)
    start = time.perf_counter()
    with pytest.raises(CircuitsError, match="batch_size = 1000000000000 needs about"):
        evaluate(net, n_active=2, batch_size=10**12)
    assert time.perf_counter() - start < 1.0


# ----------------------------------------------------------------------------- custom codecs
W = np.array([[[2.0, -2.0], [2.0, -2.0]]] * 20)


def _custom(**codecs):
    return custom_circuits(W, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                           **codecs)


@pytest.mark.parametrize("decode_on, message", [
    (lambda a: a[..., 0] * np.nan, "decode_on returned NaN or inf"),
    (lambda a: a, r"decode_on must map an array of shape \(2, 3, 2\) to one of shape \(2, 3\)"),
    (lambda a: None, "decode_on failed"),
    (lambda a: 1 / 0, "decode_on failed .*ZeroDivisionError"),
    (3, "decode_on must be a function"),
])
def test_custom_decode_functions_that_return_nan_or_the_wrong_shape_are_refused_when_made(decode_on, message):
    with pytest.raises(CircuitsError, match=message) as err:
        _custom(decode_on=decode_on)
    assert err.value.parameter == "decode_on"


def test_a_decode_function_that_gives_nan_only_on_some_activations_stops_the_evaluation():
    """NaN only on the in-between values that shared neurons produce: the probes (an active and an inactive
    circuit) pass, the evaluation refuses (it never tables NaN rows, which a table would drop)."""
    between = lambda a: (a[..., 0] > 0.01) & (a[..., 0] < 1.4)  # noqa: E731
    system = _custom(decode_on=lambda a: np.where(between(a), np.nan, a[..., 0] - a[..., 1]))
    net = build(system, width=40, redundancy=2, n_layers=2, seed=0)  # 20 slots for 20 circuits: they share
    with pytest.raises(CircuitsError, match="decode_on returned NaN or inf on finite input") as err:
        evaluate(net, n_active=2, batch_size=10)
    assert err.value.parameter == "decode_on"


def test_a_network_whose_values_overflow_is_refused_not_tabled_as_nan():
    huge = custom_circuits(W * 1e30, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                           decode_on=lambda a: a[..., 0] - a[..., 1])
    net = build(huge, width=80, redundancy=2, n_layers=3, seed=0)
    with pytest.raises(CircuitsError, match="not finite"):
        evaluate(net, n_active=2, batch_size=10)


# ----------------------------------------------------------------------------- threads
def test_results_are_identical_whatever_the_thread_count():
    spec = ExperimentSpec(width=800, n_circuits=150, n_layers=3, n_active=2, batch_size=300, seed=3)
    one, two = evaluate(spec, threads=1), evaluate(spec, threads=2)
    pd.testing.assert_frame_equal(one.table, two.table, check_exact=True)
    pd.testing.assert_frame_equal(one.fraction_on, two.fraction_on, check_exact=True)
    assert np.array_equal(one.estimate_payload, two.estimate_payload)


@pytest.mark.parametrize("command", [c for c in SUBCOMMANDS if c != "list"])  # list computes nothing
def test_every_command_takes_threads_and_refuses_a_bad_count_at_once(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--threads" in capsys.readouterr().out
    argv = [command, "--threads", "0"] + (["--out", "x"] if command in ("build", "sweep", "dataset") else [])
    assert main(argv) == 2
    assert "must be in 1..1024, got 0" in _one_line_error(capsys, "--threads")


# ----------------------------------------------------------------------------- size guards
@pytest.mark.parametrize("argv, flag", [
    (["evaluate", "--width", "100000", "--n-circuits", "1000000", "--batch-size", "100000"], "--batch-size"),
    (["evaluate", "--width", "99999999999999999996"], "--width"),
    (["evaluate", "--error-correction", "redundant:99999999999999999999"], "--error-correction"),
    (["evaluate", "--n-layers", "1000000"], "--n-layers"),
    (["capacity", "--n-circuits", "1000000000"], "--n-circuits"),
    (["capacity", "--width", "1000000000000"], "--width"),
    (["bench", "--width", "1000000", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "10",
      "--dense-limit", "2000000"], "--dense-limit"),
    (["scaling", "--widths", *(str(400 * (i + 1)) for i in range(100)), "--out", "never-made"], "--widths"),
])
def test_a_huge_input_is_refused_within_a_second(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 1.0
    _one_line_error(capsys, flag)
    assert list(tmp_path.iterdir()) == []


def test_a_grid_of_too_many_runs_is_refused_before_any_spec_is_made(tmp_path):
    start = time.perf_counter()
    with pytest.raises(CircuitsError, match="more than 10000 runs"):
        sweep({**TINY, "seed": list(range(10**6))}, tmp_path / "out", progress=False)
    assert time.perf_counter() - start < 2.0 and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- two sweeps on one folder
def test_two_sweeps_on_one_folder_the_second_is_refused_naming_the_first_or_waits(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    held, release = threading.Event(), threading.Event()

    def other_sweep():  # holds the folder's lock as a running sweep does
        with folder_lock(out):
            held.set()
            release.wait(10)
    holder = threading.Thread(target=other_sweep)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(CircuitsError, match=rf"another sweep \(process {os.getpid()}, started .*\) is writing"):
            sweep(TINY, out, progress=False)
        assert main(["sweep", *SMALL, "--no-progress", "--out", str(out)]) == 2
        _one_line_error(capsys, "--out")
        threading.Timer(0.5, release.set).start()
        start = time.perf_counter()
        table = sweep(TINY, out, progress=False, wait=True)  # waits for the other, then runs
        assert time.perf_counter() - start >= 0.4 and table["run"].nunique() == 2
    finally:
        release.set()
        holder.join()


# ----------------------------------------------------------------------------- damaged files
def test_a_damaged_sweep_part_is_run_again_never_read(tmp_path):
    out = tmp_path / "sweep"
    first = sweep(TINY, out, progress=False)
    parts = sorted((out / "parts").glob("*.parquet"))
    parts[0].write_bytes(parts[0].read_bytes()[:100])  # truncated
    data = bytearray(parts[1].read_bytes())
    data[len(data) // 3] ^= 1  # one flipped bit
    parts[1].write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt sweep-part file: .*; running it again"):
        again = sweep(TINY, out, progress=False)
    pd.testing.assert_frame_equal(first, again)


def test_a_flipped_byte_in_a_data_set_file_is_refused(net, tmp_path):
    path = circuits.ground_truth(net).dataset(20, seed=1).save(tmp_path / "data.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    (tmp_path / "flipped.safetensors").write_bytes(bytes(data))
    with pytest.raises(CircuitsError, match="checksum"):
        load_dataset(tmp_path / "flipped.safetensors")
    assert load_dataset(path).active.shape == (20, 2)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("argv, flag", [
    (["evaluate", "--seed", "-1"], "--seed"),
    (["evaluate", "--width", "abc"], "--width"),
    (["evaluate", "--device", "meta"], "--device"),
    (["evaluate", "--chunk-size", "0"], "--chunk-size"),
    (["evaluate", "--network", "/nonexistent/net"], "--network"),
    (["bench", "--dense-batch", "0"], "--dense-batch"),
    (["boundary", "--n-seeds", "0"], "--n-seeds"),
    (["boundary", "--confidence", "1.5"], "--confidence"),
    (["boundary", "--n-active", "-1"], "--n-active"),
    (["sweep", "--out", "x", "--chi-scale", "nan"], "--chi-scale"),
    (["sweep", "--out", "x", "--workers", "100000"], "--workers"),
    (["scaling", "--out", "x", "--widths", "400"], "--widths"),
    (["capacity", "--width", "1001"], "--width"),
    (["figures", "--seed", "-1"], "--seed"),
    (["zoo", "--only", "bogus", "--list"], "--only"),
    (["build", "--out", ""], "--out"),
    (["demo", "--n-circuits", "2"], "--n-active"),
])
def test_every_command_line_error_is_one_line_naming_the_flag(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line_error(capsys, flag)
    assert list(tmp_path.iterdir()) == []  # refused before any work: nothing written


@pytest.mark.parametrize("command", ["build", "sweep", "dataset", "scaling", "zoo"])
def test_an_os_error_on_an_output_names_out(command, capsys, tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = str(tmp_path / "a-file" / "out")  # under a file: the system refuses it
    argv = {"build": ["build", *SMALL[:6]], "sweep": ["sweep", *SMALL, "--no-progress"],
            "dataset": ["dataset", *SMALL], "scaling": ["scaling", "--widths", "400", "800", "--n-layers", "2",
                                                        "--batch-size", "20", "--n-seeds", "1", "--no-progress"],
            "zoo": ["zoo", "--only", "rotation-exact"]}[command]
    assert main([*argv, "--out", out]) == 2
    _one_line_error(capsys, "--out")


def test_a_refused_sweep_or_scaling_creates_no_output(tmp_path, capsys):
    for argv in (["sweep", *SMALL, "--no-progress", "--device", "meta"],
                 ["scaling", "--widths", "400", "800", "--device", "mps"]):
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        _one_line_error(capsys, "--device")
        assert not (tmp_path / "out").exists()


def _in_a_fork(argv, stdout):
    """``main(argv)`` in a forked child whose standard output is ``"closed"`` (``cis ... >&-``) or a pipe whose
    reader is gone (``"gone"``, ``cis ... | true``): ``(exit status, stderr)``."""
    err_r, err_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(err_w, 2)
        sys.stderr = open(2, "w", closefd=False)
        os.close(out_r)
        if stdout == "closed":
            os.close(1)
            sys.stdout = None  # what Python sets when it starts without a standard output
        else:
            os.dup2(out_w, 1)
            sys.stdout = open(1, "w", closefd=False)
        os._exit(main(argv))
    os.close(out_r)  # the reader goes away before anything is written
    os.close(out_w)
    os.close(err_w)
    with open(err_r, "rb") as f:
        err = f.read().decode()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


@pytest.mark.parametrize("stdout", ["gone", "closed"])
@pytest.mark.parametrize("argv", [["capacity"], ["zoo", "--list"], ["capacity", "--format", "json"]])
def test_a_closed_standard_output_ends_quietly(argv, stdout):
    assert _in_a_fork(argv, stdout) == (0, "")


@pytest.mark.parametrize("key, value, message", [
    ("width", 800, "provenance.width = 800 but the saved network has 400"),
    ("seed", 5, "is not the one the spec it records .*seed 5.* derives"),
])
def test_a_forged_provenance_with_a_recomputed_checksum_is_refused(key, value, message, tmp_path, capsys):
    """Even an edit that recomputes the checksum cannot make the spec a saved network records describe another
    network (cis evaluate --network reports that spec's fields and seeds)."""
    import json
    from circuits.base import seal

    path = circuits.save_network(circuits.build(ExperimentSpec(width=400, n_circuits=50, n_layers=2)), tmp_path / "n")
    config = json.loads((path / "config.json").read_text())
    config["provenance"][key] = value
    rest = {k: v for k, v in config.items() if k not in ("format", "format_version", "identity", "sha256")}
    config.update(seal("network", 4, config["identity"], rest, (path / "weights.safetensors").read_bytes()))
    (path / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", "--network", str(path), "--batch-size", "10"]) == 2
    assert __import__("re").search(message, _one_line_error(capsys, "--"))
