"""The layering ARCHITECTURE.md states, enforced on every import (top-level or inside a function):
a module imports only from its own layer or the layers below it, and the library imports nothing
of the harness."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first; a module belongs to the first prefix it starts with (longest prefixes first below).
LAYERS = [
    ("library", ("iss",)),
    ("base", ("iss_harness.io", "iss_harness.config", "iss_harness.provenance", "iss_harness.numerics",
              "iss_harness.render")),
    ("data and models", ("iss_harness.data", "iss_harness.models")),
    ("paper", ("iss_harness.paper",)),
    ("tasks", ("iss_harness.tasks",)),
    ("reporting", ("iss_harness.reporting",)),
    ("tables", ("iss_harness.tables",)),
    ("recording", ("iss_harness.recording", "iss_harness.regenerate")),
    ("command line", ("iss_harness.cli", "iss_harness.command")),
]


def layer_of(module: str) -> int:
    matches = [(len(prefix), rank) for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        assert not module.startswith("iss_harness."), f"{module} is in no layer: add it to LAYERS"
        return -1  # not ours (torch, pandas, ...)
    return max(matches)[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "iss_harness":  # the bare package: what counts is the module imported
                found += [(node.lineno, node.module)]
            # `from iss_harness import tables` imports the module iss_harness.tables
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if layer_of(f"{node.module}.{alias.name}") != layer_of(node.module)]
    return found


def test_every_import_goes_down_or_sideways():
    files = sorted((ROOT / "iss").rglob("*.py")) + sorted((ROOT / "iss_harness").rglob("*.py"))
    assert len(files) > 40
    upward = []
    for path in files:
        here = layer_of(module_name(path))
        for line, module in imports(path):
            if layer_of(module) > here:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({LAYERS[here][0]}) imports {module} "
                              f"({LAYERS[layer_of(module)][0]})")
    assert not upward, "\n".join(upward)


def test_the_layer_rule_would_catch_an_upward_import():
    assert layer_of("iss_harness.paper.compare") < layer_of("iss_harness.reporting.render_x")
    assert layer_of("iss.api") < layer_of("iss_harness.io") and layer_of("torch") == -1
