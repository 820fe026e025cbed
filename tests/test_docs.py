"""The README's Python blocks run as written (so the tour cannot drift from the code)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["spec"].load == 557 * (4 / 1000) ** 2
    assert namespace["net"].network_layers == 7  # 4 computation layers with clean-up layers between them


def test_the_tutorial_is_linked_and_executed_by_the_test_command():
    """docs/tutorial.ipynb runs under `python -m pytest` (nbmake collects it from the test paths)."""
    assert "docs/tutorial.ipynb" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / "tutorial.ipynb").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^testpaths = \[.*"docs".*\]$', pyproject, flags=re.M)
    assert re.search(r'^addopts = ".*--nbmake.*"$', pyproject, flags=re.M)
