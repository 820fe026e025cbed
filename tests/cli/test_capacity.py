"""``cis capacity``: each assignment's capacity beside the packing bound, the first sets' slot use, refusals."""

from circuits import ASSIGNMENTS, capacity
from circuits.cli import main
from theory import packing_bound

def test_cli_capacity_json(capsys, cli_json):
    out = cli_json(["capacity", "--width", "1000", "--redundancy", "6", "--format", "json"])
    assert out["packing_bound"] == packing_bound(250, 6) == 2075
    assert out["capacity"] == {m: capacity(250, 6, m) for m in ASSIGNMENTS}
    out = cli_json(["capacity", "--width", "900", "--redundancy", "3", "--system", "rotation-3",
                         "--n-circuits", "500", "--format", "json"])
    assert out["n_slots"] == 300 and out["packing_bound"] == packing_bound(300, 3)
    assert out["first_sets"]["finite-field"]["max_shared"] == 1
    assert out["first_sets"]["random"]["max_shared"] == 2
    assert out["first_sets"]["finite-field"]["slot_use"]["mean"] == 500 * 3 / 300


def test_cli_capacity_table_and_errors(capsys):
    assert main(["capacity", "--width", "2000", "--n-circuits", "3000"]) == 0
    text = capsys.readouterr().out
    assert "packing bound N(N-1)/(S(S-1)) = 8316" in text
    assert "prime-step" in text and "2101" in text and "8017" in text
    assert "T=3000 does not fit (capacity 2101)" in text
    assert main(["capacity", "--width", "12", "--redundancy", "6"]) == 2
    assert "--redundancy must be in 1..3" in capsys.readouterr().err
    assert main(["capacity", "--width", "1000000000000"]) == 2  # answered at once, not computed
    assert "--width must be in 1..10000000" in capsys.readouterr().err
