"""Long commands on a Dask cluster give what they give here: the zoo (library and ``cis zoo --dask``) and the
boundary finder, each on a local cluster of one in-process worker."""

import json

import pytest
from safetensors import safe_open

from circuits import ExperimentSpec, find_boundary
from circuits.cli import main
from circuits.zoo import build_zoo, read_index

distributed = pytest.importorskip("distributed")

NAMES = ["rotation-exact", "chains-exact"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        yield cluster


def test_zoo_on_a_local_cluster_is_the_zoo_built_here(tmp_path, cluster):
    here = build_zoo(tmp_path / "here", names=NAMES, progress=False, threads=1)
    with distributed.Client(cluster) as client:
        there = build_zoo(tmp_path / "there", names=NAMES, progress=False, executor=client.get_executor())
    assert [e["name"] for e in there["entries"]] == NAMES  # catalogue order, whatever finished first
    assert json.dumps(here, sort_keys=True) == json.dumps(there, sort_keys=True)
    for name in NAMES:  # every file the same, byte for byte
        files = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here" / name).rglob("*") if p.is_file())
        assert files
        for f in files:
            assert _contents(tmp_path / "here" / f) == _contents(tmp_path / "there" / f), f


def _contents(path):
    """A file's bytes; for safetensors its metadata and arrays (the header's key order is the writer's)."""
    if path.suffix != ".safetensors":
        return path.read_bytes()
    with safe_open(path, "np") as f:
        return f.metadata(), {k: f.get_tensor(k).tobytes() for k in sorted(f.keys())}


def test_cis_zoo_dask(tmp_path, cluster, capsys):
    assert main(["zoo", "--out", str(tmp_path / "z"), "--only", NAMES[0], "--dask", cluster.scheduler_address,
                 "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in printed["entries"]] == [NAMES[0]]
    assert read_index(tmp_path / "z") == printed


def test_find_boundary_on_a_local_cluster(cluster):
    spec = ExperimentSpec(width=400, n_circuits=20, n_active=1, n_layers=2, batch_size=100, seed=5)
    here = find_boundary(spec, criterion="worst-readout", n_seeds=2)
    with distributed.Client(cluster) as client:
        there = find_boundary(spec, criterion="worst-readout", n_seeds=2, executor=client.get_executor())
    assert there.crossings == here.crossings
    assert there.critical_load == here.critical_load and there.interval == here.interval
