"""Refusals: one fast test per class of defect the fault campaign's newest sections found.

Each bad input, special file or stored file that is not what it claims is refused before any work with a
:class:`circuits.CircuitsError` naming the parameter (on the command line: one line naming the flag), never a
traceback, a silent mix of two artefacts, or a partial file: bad inputs to the exported module and the scorer,
empty active sets, booleans given as strings, the zoo's arguments and its catalogue, paths that are not paths,
a zoo data set replaced by another of the same network, special files where a file or a folder goes, a figure
written half, warnings of the command line on one line, an unreachable Dask scheduler.
"""

import json
import os
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import circuits
from circuits import CircuitsError, ExperimentSpec, build, ground_truth, rotation_circuits, score_decomposition, zoo
from circuits.base import check_target, require_bool, write_file
from circuits.cli import main
from circuits.experiments._scaling import fit_power_law

D = 160
SMALL = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]
TINY_GRID = {"width": 400, "n_circuits": [40, 80], "n_layers": 2, "n_active": 1, "batch_size": 20}


@pytest.fixture(scope="module")
def net():
    return build(rotation_circuits(n_circuits=40, seed=0), width=D, redundancy=4, n_layers=3, seed=1)


@pytest.fixture(scope="module")
def truth(net):
    return ground_truth(net)


@pytest.fixture(scope="module")
def built_zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    zoo.build_zoo(path, names=["rotation-exact"], progress=False, threads=1)
    return path


def _refused(call, parameter, *words):
    with pytest.raises(CircuitsError) as err:
        call()
    assert err.value.parameter == parameter, (err.value.parameter, str(err.value))
    assert all(w in str(err.value) for w in words), str(err.value)
    return str(err.value)


def _one_line(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and all(w in err for w in words), err
    return err


# ----------------------------------------------------------------------------- the exported module
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("x, words", [
    (lambda: torch.zeros(2, D, dtype=torch.float64), ("torch.float32", "float64")),
    (lambda: torch.zeros(2, D, dtype=torch.int64), ("torch.float32",)),
    (lambda: torch.zeros(2, D, dtype=torch.float16), ("torch.float32",)),
    (lambda: torch.zeros(2, D, dtype=torch.complex64), ("torch.float32",)),
    (lambda: torch.zeros(2, D, dtype=torch.bool), ("torch.float32",)),
    (lambda: torch.zeros(2, D, device="meta"), ("device", "meta")),
])
def test_the_module_refuses_an_input_of_another_dtype_or_device(net, dense, x, words):
    module = circuits.to_module(net, dense=dense)
    _refused(lambda: module.run_with_cache(x()), "x", *words)
    _refused(lambda: module.run_with_hooks(x()), "x", *words)


@pytest.mark.parametrize("names", [123, 3.5, b"layers.1.hook_post", [1, 2]])
def test_run_with_cache_refuses_a_names_filter_that_is_no_name(net, names):
    _refused(lambda: circuits.to_module(net).run_with_cache(torch.zeros(2, D), names_filter=names), "names_filter")


@pytest.mark.parametrize("dense", [True, False])
def test_an_empty_batch_gives_an_empty_result_dense_or_sparse(net, dense):
    out, cache = circuits.to_module(net, dense=dense).run_with_cache(torch.zeros(0, D))
    assert out.shape == (0, D) and all(v.shape == (0, D) for v in cache.values()) and len(cache) == 7


# ----------------------------------------------------------------------------- the scorer's components
@pytest.mark.parametrize("components, words", [
    (lambda: [np.eye(D) * (1 + 1j)], ("real numbers", "complex")),
    (lambda: [sp.csr_array(np.eye(D) * 1j)], ("real numbers", "complex")),
    (lambda: [torch.eye(D, dtype=torch.complex64)], ("real numbers", "complex")),
    (lambda: [(np.ones(D), np.ones(D), np.ones(D))], ("factor pair", "tuple of 3")),
    (lambda: [(np.ones(D),)], ("factor pair", "tuple of 1")),
    (lambda: ["component"], ("real numbers",)),
    (lambda: [torch.zeros(D, D, device="meta")], ("meta",)),
    (lambda: torch.zeros(3, D, D, device="meta"), ("meta",)),
    (lambda: [np.array([[None] * D] * D, dtype=object)], ("real numbers",)),
    (lambda: [(np.ones(D) * 1j, np.ones(D))], ("real numbers", "complex")),
])
def test_score_decomposition_refuses_components_that_are_not_real_matrices_or_pairs(truth, components, words):
    _refused(lambda: score_decomposition(truth, {2: components()}), "components", "components[2]", *words)


def test_the_scorer_reads_a_torch_tensor_as_the_same_numpy_array(truth):
    """The truth's own components score 1 (to round-off); as float64 tensors, a list or a (K, D, D) stack, they
    give the numpy arrays' scores bit for bit."""
    dense = [m.toarray() for m in truth.components([2])[2]]
    as_numpy = score_decomposition(truth, {2: dense}).table
    as_list = score_decomposition(truth, {2: [torch.from_numpy(m) for m in dense]}).table
    as_stack = score_decomposition(truth, {2: torch.from_numpy(np.stack(dense))}).table
    assert as_numpy.equals(as_list) and as_numpy.equals(as_stack)
    assert score_decomposition(truth, {2: dense}).summary["recovery"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("call, parameter", [
    (lambda t, data: circuits.score_features(t, np.ones((4, D)) * 1j, layer=2), "decoder"),
    (lambda t, data: circuits.score_features(t, torch.ones(4, D, dtype=torch.complex64), layer=2), "decoder"),
    (lambda t, data: circuits.score_features(t, sp.csr_array(np.ones((4, D)) * 1j), layer=2), "decoder"),
    (lambda t, data: circuits.score_features(t, [["a"] * D] * 4, layer=2), "decoder"),
    (lambda t, data: circuits.score_features(t, torch.ones(4, D, device="meta"), layer=2), "decoder"),
    (lambda t, data: circuits.score_features(t, np.ones((4, D)), layer=2, batch=data, codes=np.ones((8, 4)) * 1j),
     "codes"),
    (lambda t, data: circuits.score_features(t, np.ones((4, D)), layer=2, batch=torch.zeros(8, D, device="meta")),
     "batch"),
    (lambda t, data: circuits.score_features(t, np.ones((4, D)), layer=2, batch=np.zeros((8, D)) * 1j), "batch"),
    (lambda t, data: circuits.from_sae(W_enc=torch.ones(D, 4, dtype=torch.complex64), b_enc=torch.zeros(4),
                                       W_dec=torch.ones(4, D), b_dec=torch.zeros(D), layer=2), "W_enc"),
    (lambda t, data: circuits.from_sae(W_enc=torch.ones(D, 4, device="meta"), b_enc=torch.zeros(4),
                                       W_dec=torch.ones(4, D), b_dec=torch.zeros(D), layer=2), "W_enc"),
    (lambda t, data: circuits.from_sae(W_enc=torch.ones(D, 4), b_enc=torch.zeros(4), W_dec=[["a"] * D] * 4,
                                       b_dec=torch.zeros(D), layer=2), "W_dec"),
])
def test_score_features_and_from_sae_refuse_arrays_that_are_not_real(truth, call, parameter):
    data = truth.dataset(8, activations=True)
    _refused(lambda: call(truth, data), parameter)


def test_a_dictionary_encoder_that_returns_complex_codes_is_refused(truth):
    dictionary = circuits.export.Dictionary(np.eye(D)[:4], layer=2, encoder=lambda x: x[:, :4] * 1j)
    _refused(lambda: dictionary.encode(torch.zeros(2, D)), "encoder", "real numbers")
    relu = circuits.export.Dictionary(np.eye(D)[:4], layer=2, encoder=lambda x: torch.relu(x[:, :4]))
    assert relu.encode(np.ones((2, D))).tolist() == [[1.0] * 4] * 2  # numpy activations are read as before


# ----------------------------------------------------------------------------- empty active sets
def test_an_empty_active_set_is_refused_saying_it_is_empty(net, truth):
    empty, payloads = np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2, 2))
    _refused(lambda: score_decomposition(truth, {2: truth.components([2])[2]}, batch=(empty, payloads)), "batch",
             "empty")
    _refused(lambda: truth.encode(empty, payloads), "active", "empty", "no sample")
    _refused(lambda: truth.reference(empty, payloads), "active", "empty", "no sample")
    _refused(lambda: net.system.check_active(np.zeros((3, 0), dtype=np.int64)), "active", "empty", "z >= 1")
    _refused(lambda: circuits.evaluate(net, active=empty), "active", "empty")


# ----------------------------------------------------------------------------- booleans
@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, [True]])
def test_a_boolean_argument_refuses_anything_but_true_or_false(value):
    _refused(lambda: require_bool("overwrite", value), "overwrite", "True or False")
    assert require_bool("overwrite", np.bool_(True)) is True


@pytest.mark.parametrize("call, parameter", [
    (lambda out: circuits.evaluate(ExperimentSpec(width=400, n_circuits=50, n_layers=2), allow_large="no"),
     "allow_large"),
    (lambda out: circuits.build(ExperimentSpec(width=400, n_circuits=50, n_layers=2), allow_large="no"),
     "allow_large"),
    (lambda out: circuits.find_boundary(ExperimentSpec(width=400, n_circuits=50, n_layers=2, batch_size=20), n_seeds=1,
                                        allow_large="no"), "allow_large"),
    (lambda out: circuits.find_boundary(ExperimentSpec(width=400, n_circuits=50, n_layers=2, batch_size=20), n_seeds=1,
                                        progress="no"), "progress"),
    (lambda out: circuits.sweep(TINY_GRID, out, progress="no"), "progress"),
    (lambda out: circuits.sweep(TINY_GRID, out, progress=False, csv="no"), "csv"),
    (lambda out: circuits.sweep(TINY_GRID, out, progress=False, wait=1), "wait"),
    (lambda out: circuits.scaling(ExperimentSpec(n_layers=2, batch_size=20), [400, 800], out, progress="no"),
     "progress"),
])
def test_a_switch_given_as_a_string_is_refused_before_any_work(call, parameter, tmp_path):
    _refused(lambda: call(tmp_path / "out"), parameter, "True or False")
    assert not (tmp_path / "out").exists()


def test_overwrite_given_as_a_string_is_refused_not_taken_as_true(net, truth, tmp_path, built_zoo):
    data = truth.dataset(4)
    data.save(tmp_path / "x.safetensors")
    before = (tmp_path / "x.safetensors").read_bytes()
    _refused(lambda: data.save(tmp_path / "x.safetensors", overwrite="no"), "overwrite")
    assert (tmp_path / "x.safetensors").read_bytes() == before
    circuits.save_network(net, tmp_path / "net")
    _refused(lambda: circuits.save_network(net, tmp_path / "net", overwrite="no"), "overwrite")
    _refused(lambda: zoo.build_zoo(built_zoo, names=["rotation-exact"], overwrite="no", progress=False), "overwrite")
    _refused(lambda: zoo.load_model("rotation-exact", built_zoo, dataset="no"), "dataset")


# ----------------------------------------------------------------------------- the zoo's arguments and catalogue
@pytest.mark.parametrize("key", ["bogus", 3, None, ("rotation-exact",)])
def test_the_catalogue_refuses_an_unknown_name_naming_the_catalogued_ones(key):
    message = _refused(lambda: zoo.CATALOGUE[key], "name", "must be one of")
    assert all(name in message for name in zoo.names())
    assert key not in zoo.CATALOGUE and zoo.CATALOGUE.get(key) is None
    assert zoo.CATALOGUE["rotation-exact"].spec.n_circuits == 41 and "rotation-exact" in zoo.CATALOGUE
    _refused(lambda: circuits.SYSTEMS["bogus"], "system", "rotation")  # every registry refuses alike


@pytest.mark.parametrize("call, parameter", [
    (lambda z: zoo.load_model("rotation-exact", 123), "path"),
    (lambda z: zoo.load_model("rotation-exact", ""), "path"),
    (lambda z: zoo.build_zoo(z.parent / "new", names=123, progress=False), "names"),
    (lambda z: zoo.build_zoo(z.parent / "new", names=[3], progress=False), "names"),
    (lambda z: zoo.classify(zoo.CATALOGUE["rotation-exact"].spec, {}), "measured"),
    (lambda z: zoo.classify("rotation-exact", {}), "spec"),
    (lambda z: zoo.index_table({}), "index"),
    (lambda z: zoo.index_table({"entries": [{"name": "x"}]}), "index"),
    (lambda z: zoo.read_index(123), "path"),
    (lambda z: circuits.load_dataset(123), "path"),
    (lambda z: circuits.load_dataset(None), "path"),
    (lambda z: circuits.load_dataset(b"x.safetensors"), "path"),
    (lambda z: circuits.load_dataset(["x.safetensors"]), "path"),
])
def test_zoo_and_data_set_arguments_of_the_wrong_kind_are_refused(built_zoo, call, parameter):
    _refused(lambda: call(built_zoo), parameter)
    assert not (built_zoo.parent / "new").exists()


def test_matches_refuses_what_is_not_a_network(truth):
    _refused(lambda: truth.dataset(4).matches("net"), "net", "circuits.Network")


# ----------------------------------------------------------------------------- a zoo's stored files
@pytest.mark.parametrize("draw, why", [
    (dict(batch_size=200, seed=5), "seed 5, not 0"),
    (dict(batch_size=50, seed=0), "batch_size 50, not 200"),
    (dict(batch_size=200, seed=0, reference=False), "contents"),
])
def test_a_zoo_data_set_replaced_by_another_of_the_same_network_is_refused(built_zoo, tmp_path, draw, why):
    import shutil

    z = tmp_path / "zoo"
    shutil.copytree(built_zoo, z)
    model = zoo.load_model("rotation-exact", z)
    spec = model.spec
    other = model.truth.dataset(draw["batch_size"], seed=draw["seed"], n_active=spec.n_active, activations=True,
                                reference=draw.get("reference", True))
    other.save(z / "rotation-exact" / "dataset.safetensors", overwrite=True)
    _refused(lambda: zoo.load_model("rotation-exact", z), "path", "dataset.safetensors", why)
    assert zoo.load_model("rotation-exact", z, dataset=False).dataset is None  # the rest of the entry is whole


def test_an_index_of_another_zoo_is_named_when_it_lacks_an_entry_the_folder_has(built_zoo, tmp_path):
    import shutil

    z = tmp_path / "zoo"
    shutil.copytree(built_zoo, z)
    shutil.copytree(z / "rotation-exact", z / "rotation-working")
    _refused(lambda: zoo.load_model("rotation-working", z), "name", "index.json", "another zoo's")


# ----------------------------------------------------------------------------- special files
def _special(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "dangling":
        os.symlink(path.parent / "nowhere", path)
    return {"fifo": "FIFO", "folder": "folder", "loop": "loop", "dangling": "dangling"}[kind]


@pytest.mark.parametrize("kind", ["fifo", "folder", "loop", "dangling"])
def test_a_special_file_where_a_file_goes_is_refused_by_what_it_is(tmp_path, kind):
    words = _special(tmp_path / "x", kind)
    _refused(lambda: check_target(tmp_path / "x"), "path", words)
    _refused(lambda: write_file(tmp_path / "x", b"data"), "path", words)
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # nothing written beside it, nothing through it
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("kind", ["fifo", "dangling"])
def test_cis_dataset_refuses_an_out_that_is_a_special_file(kind, tmp_path, capsys):
    words = _special(tmp_path / "x.safetensors", kind)
    start = time.perf_counter()
    assert main(["dataset", *SMALL, "--out", str(tmp_path / "x.safetensors")]) == 2
    assert time.perf_counter() - start < 2
    _one_line(capsys, "--out", words)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("where, kind", [
    ("sweep.json", "fifo"), (".lock", "fifo"), ("parts/PART", "folder"), ("parts/PART", "fifo"), (".", "fifo")])
def test_a_sweep_refuses_a_special_file_in_its_folder_before_any_work(where, kind, tmp_path, capsys):
    out = tmp_path / "sw"
    if where == ".":
        words = _special(out, kind)
    else:
        circuits.sweep(TINY_GRID, out, progress=False)
        target = out / where
        if where == "parts/PART":
            target = sorted((out / "parts").glob("*.parquet"))[0]
        target.unlink()
        words = _special(target, kind)
    start = time.perf_counter()
    assert main(["sweep", "--width", "400", "--n-circuits", "40", "80", "--n-layers", "2", "--n-active", "1",
                 "--batch-size", "20", "--no-progress", "--out", str(out)]) == 2
    assert time.perf_counter() - start < 2
    _one_line(capsys, "--out", words)


def test_cis_scaling_refuses_an_out_that_is_a_fifo(tmp_path, capsys):
    words = _special(tmp_path / "out", "fifo")
    assert main(["scaling", "--widths", "400", "800", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1",
                 "--no-progress", "--out", str(tmp_path / "out")]) == 2
    _one_line(capsys, "--out", words)


# ----------------------------------------------------------------------------- figures and warnings
def test_a_figure_that_fails_half_written_leaves_no_file(tmp_path):
    from figures._style import new_figure, save_png

    fig, _ = new_figure()

    def half_then_full(path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n")
        raise OSError(28, "No space left on device")
    fig.savefig = half_then_full
    with pytest.raises(OSError):
        save_png(fig, tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []
    fig, _ = new_figure()
    assert save_png(fig, tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_cis_scaling_refuses_a_figure_it_cannot_write_in_one_line_keeping_the_tables(tmp_path, capsys, monkeypatch):
    import figures.fig_scaling as fig_scaling

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fig_scaling, "save_png", full)
    out = tmp_path / "sc"
    assert main(["scaling", "--widths", "400", "800", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1",
                 "--rtol", "0.5", "--no-progress", "--threads", "1", "--out", str(out)]) == 2
    _one_line(capsys, "--out", "No space left on device", "scaling.png")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "fits.parquet", "parts", "results.parquet", "scaling.json"]


def test_a_warning_of_the_command_line_is_one_line_naming_the_part(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", "--width", "400", "--n-circuits", "40", "80", "--n-layers", "2", "--n-active", "1",
            "--batch-size", "20", "--no-progress", "--format", "json", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    a, b = sorted((out / "parts").glob("*.parquet"))
    tmp = a.with_name("swap")
    a.rename(tmp), b.rename(a), tmp.rename(b)  # two runs' parts swapped by name
    assert main(argv) == 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("cis sweep: warning: ") for ln in lines), err
    assert a.name in err and b.name in err and "running it again" in err


# ----------------------------------------------------------------------------- the rest
def test_fit_power_law_names_the_widths_when_the_lengths_differ():
    _refused(lambda: fit_power_law([1000, 2000, 4000], [0.004, 0.002]), "loads", "3 widths", "2 loads")


def test_an_unreachable_dask_scheduler_is_refused_at_once(tmp_path, capsys):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    assert main(["sweep", *SMALL, "--no-progress", "--dask", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    assert time.perf_counter() - start < 3
    _one_line(capsys, "--dask", "cannot reach")
