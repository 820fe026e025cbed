"""The scripts under scripts/ (studies, reliability, timing): each starts, explains itself, and the quick ones run."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts").rglob("*.py"))


def _run(*argv, timeout=300):
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_scripts_are_sorted_by_what_they_hold():
    assert {p.parent.name for p in SCRIPTS} == {"studies", "reliability", "timing"}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_script_explains_itself(script):
    done = _run(str(script), "--help", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout and len(done.stdout.splitlines()) > 3


@pytest.mark.slow
def test_the_oracle_study_runs_a_small_point():
    """The oracle of the scalable-1 construction on one small point: with every on-indicator and payload row
    overwritten by its exact value after every layer nothing is left but float32 round-off."""
    done = _run("scripts/studies/oracle_on_indicators.py", "--point", "1000", "0.004", "1", "--batch-size", "10")
    assert done.returncode == 0, done.stderr[-2000:]
    last = [line for line in done.stdout.splitlines() if "oracle-payload" in line and "layer 4" in line]
    assert len(last) == 1
    assert float(last[0].split("payload mse")[1].split()[0]) < 1e-9
