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
        exec(compile(block, "<README.md>", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["spec"].load == 557 * (4 / 1000) ** 2
    assert namespace["net"].network_layers == 7  # 4 computation layers with clean-up layers between them


def test_the_tutorial_is_linked_and_executed_by_the_test_command():
    """docs/tutorial.ipynb runs under `python -m pytest` (nbmake collects it from the test paths)."""
    assert "docs/tutorial.ipynb" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / "tutorial.ipynb").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^testpaths = \[.*"docs".*\]$', pyproject, flags=re.M)
    assert re.search(r'^addopts = ".*--nbmake.*"$', pyproject, flags=re.M)


PATH_PATTERN = re.compile(r"(?<![\w/.-])((?:circuits|theory|figures|tests|docs|scripts|benchmarks|\.ci)/[\w./<>*{}-]*[\w>*}])")
DOTTED_PATTERN = re.compile(r"`~?((?:circuits|theory|figures)(?:\.[A-Za-z_]\w*)+)")


def _documents():
    """Every tracked source and documentation file, with its text."""
    import subprocess

    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith((".py", ".md", ".toml", ".ipynb", ".txt")) or name == ".ci/run":
            yield name, (ROOT / name).read_text(errors="replace")


def test_every_path_named_in_the_code_and_docs_exists():
    """Docstrings, comments and documents name files and folders of this repository: each must exist."""
    missing = []
    for name, text in _documents():
        for match in PATH_PATTERN.finditer(text):
            path = match.group(1).rstrip(".")
            if any(ch in path for ch in "*<>{}") or path.startswith("figures/out") or "pytest-of" in path:
                continue
            if not (ROOT / path).exists():
                missing.append(f"{name}: {path}")
    assert missing == []


def test_every_dotted_name_in_the_code_and_docs_resolves():
    """A name such as ``circuits.export.load_network`` quoted in a docstring or a document names a module, or an
    attribute (or dataclass field) of one, that exists."""
    import importlib

    unresolved = []
    for name, text in _documents():
        for match in DOTTED_PATTERN.finditer(text):
            dotted = match.group(1)
            parts = dotted.split(".")
            obj, ok = None, False
            for cut in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                ok = True
                for attr in parts[cut:]:
                    fields = getattr(obj, "__dataclass_fields__", {})
                    if not hasattr(obj, attr) and attr not in fields:
                        ok = False
                        break
                    obj = getattr(obj, attr, None)
                break
            if not ok:
                unresolved.append(f"{name}: {dotted}")
    assert unresolved == []


def test_the_repository_stands_alone():
    """Nothing points outside the repository or to an issue tracker's numbers."""
    outside = re.compile(r"\.\./shared|DESIGN\.md|[Ii]ssue ?#?\d|(?<![\w&])#\d{1,3}\b")
    found = [f"{name}:{i + 1}" for name, text in _documents() for i, line in enumerate(text.splitlines())
             if outside.search(line)]
    assert found == []


def test_the_readme_lists_every_public_name_and_their_count():
    import circuits

    text = (ROOT / "README.md").read_text()
    assert f"### The public API: {len(circuits.__all__)} names" in text
    section = text.split("### The public API")[1].split("\n\n")[2]
    listed = set(re.findall(r"`([A-Za-z_]\w*)`", section))
    assert set(circuits.__all__) <= listed


def test_the_format_versions_the_readme_states_are_the_code_s():
    """The README names the data set's and the zoo index's format versions; they must be what the code writes."""
    from circuits.experiments._zoo import _VERSION as ZOO_VERSION
    from circuits.export._dataset import DATASET_VERSION

    text = (ROOT / "README.md").read_text()
    dataset = re.findall(r"format `circuits-dataset`, version (\d+)", text)
    zoo = re.findall(r"zoo format (\d+)", text)
    assert dataset and zoo
    assert {int(v) for v in dataset} == {DATASET_VERSION} and {int(v) for v in zoo} == {ZOO_VERSION}
