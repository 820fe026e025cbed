"""The layering of docs/design.md section 2: import-linter's contracts, and no function-local imports."""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    """Layers import only downward, no circles, theory independent, the library never imports cli/figures."""
    exe = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports (import-linter, in the test extra) is not installed")
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def _local_imports(path: pathlib.Path) -> list[str]:
    """Imports of the package's own modules inside a function body."""
    tree = ast.parse(path.read_text())
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("circuits")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name.startswith("circuits") for a in node.names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_function_local_imports_of_the_package():
    library = [p for p in (ROOT / "circuits").rglob("*.py") if "cli" not in p.parts]
    assert len(library) > 20
    found = [hit for p in library for hit in _local_imports(p)]
    assert found == []


ABOVE_CONSTRUCTION = ["circuits/measurement", "circuits/export", "circuits/experiments", "circuits/cli", "figures"]


def _option_asks(path: pathlib.Path, classes: set, names: set) -> list[str]:
    """Places in ``path`` that name a weight-scheme or error-correction class, or compare a value with the name of
    a registered system, weight scheme or criterion (the layers above construction ask the option instead)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in classes:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.id}")
        if isinstance(node, ast.Attribute) and node.attr in classes:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                values = [side] + (list(side.elts) if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [])
                for v in values:
                    if isinstance(v, ast.Constant) and v.value in names:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: compares with {v.value!r}")
    return found


def test_no_layer_above_construction_asks_for_a_class_or_a_name():
    """Measurement, export, experiments, the CLI and the figures ask an option what they need (its boundary model,
    whether it has chi, its activation groups), never which class or which registered name it is."""
    import circuits
    from circuits.construction import WeightScheme
    from circuits.system._corrections import CorrectionOption

    classes = {c.__name__ for base in (WeightScheme, CorrectionOption) for c in _subclasses(base)}
    names = set(circuits.SYSTEMS) | set(circuits.WEIGHT_SCHEMES) - {"none"}
    files = [p for folder in ABOVE_CONSTRUCTION for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 30 and {"Capped", "Inhibited", "Step"} <= classes
    assert [hit for p in files for hit in _option_asks(p, classes, names)] == []


def _subclasses(cls):
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


LAYERS = ("base", "system", "assignment", "construction", "measurement", "export", "experiments")


def test_every_name_a_layer_exports_is_used_above_it_or_documented():
    """Two tiers of API: a layer's ``__all__`` holds only what another layer, the command line, the figures or the
    scripts use, or what the README, docs/design.md or the tutorial show a user; what only tests need stays in the
    private module it lives in (tests import it from there)."""
    import importlib
    import re

    code = {p: p.read_text() for folder in ("circuits", "figures", "scripts") for p in (ROOT / folder).rglob("*.py")}
    docs = "\n".join((ROOT / name).read_text() for name in ("README.md", "docs/design.md", "docs/tutorial.ipynb"))
    unused = []
    for layer in LAYERS:
        own = ROOT / "circuits" / layer
        elsewhere = [text for path, text in code.items() if own not in path.parents]
        for name in importlib.import_module(f"circuits.{layer}").__all__:
            word = re.compile(rf"(?<![\w.]){re.escape(name)}\b|\.{re.escape(name)}\b")
            if not any(word.search(text) for text in elsewhere) and not word.search(docs):
                unused.append(f"circuits.{layer}.{name}")
    assert unused == []
