"""Collection settings for the whole test run (the tests' shared fixtures are in tests/conftest.py)."""

import pytest

# Modules that run something when imported are not collected for doctests.
collect_ignore_glob = ["circuits/cli/__main__.py", "build/*", ".venv/*"]


def pytest_collection_modifyitems(config, items):
    """The executed tutorial (nbmake) belongs to the full run, not the fast lane (``-m "not slow"``)."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
