"""The package's shape: subpackages in layers whose imports go one way, and no cycle."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "tagger"
# Each subpackage may import only those listed lower than itself (demo stands apart).
LAYERS = {"core": 0, "data": 1, "train": 2, "infer": 3, "serve": 4, "export": 5}
MAY_IMPORT = {name: {other for other, rank in LAYERS.items() if rank <= LAYERS[name]}
              for name in LAYERS}
MAY_IMPORT["demo"] = {"core", "demo"}


def imported_subpackages(path):
    """The tagger subpackages a module imports, at its top or inside functions."""
    tree = ast.parse(path.read_text())
    own = path.relative_to(PACKAGE).parts[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(own)
            elif node.level == 2:
                found.add((node.module or "").split(".")[0])
            elif (node.module or "").startswith("tagger."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("tagger."))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_module_lives_in_a_subpackage():
    assert [p.name for p in PACKAGE.glob("*.py")] == ["__init__.py"]
    assert {p.relative_to(PACKAGE).parts[0] for p in MODULES} == set(MAY_IMPORT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path):
    own = path.relative_to(PACKAGE).parts[0]
    upward = imported_subpackages(path) - MAY_IMPORT[own]
    assert not upward, f"{path.relative_to(PACKAGE)} imports the higher layer(s) {upward}"


SCRIPTS = sorted(PACKAGE.parent.glob("*.py"))


@pytest.mark.parametrize("path", MODULES + SCRIPTS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_modules_and_functions_stay_small(path):
    """The house style: modules under about 400 lines, functions under about 60."""
    source = path.read_text()
    assert source.count("\n") <= 400, f"{path.name} has {source.count(chr(10))} lines"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 60]
    assert not long, f"functions over 60 lines in {path.name}: {long}"


@pytest.mark.parametrize("name", ["tag.py", "draw.py", "test.py"])
def test_the_tagging_scripts_are_thin(name):
    assert (PACKAGE.parent / name).read_text().count("\n") <= 120
