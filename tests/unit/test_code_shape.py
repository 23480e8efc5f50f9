"""The size limits that keep flowcore's design visible (docs/architecture.md): modules of at most 300 lines,
classes of at most 200, functions of at most 40. Complexity (10) and public methods (15) are ruff's checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWCORE = ROOT / "layers" / "flowcore" / "flowcore"
MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 40


def oversized(source: str, name: str) -> list[str]:
    """What in `source` (a module called `name`) is longer than its limit, one line per offence."""
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name} has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            limit, kind = MAX_CLASS_LINES, "class"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit, kind = MAX_FUNCTION_LINES, "function"
        else:
            continue
        first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
        length = (node.end_lineno or node.lineno) - first + 1
        if length > limit:
            found.append(f"{name}:{node.lineno} {kind} {node.name} has {length} lines (at most {limit})")
    return found


def modules() -> list[Path]:
    return sorted(FLOWCORE.rglob("*.py"))


def test_flowcore_is_read_from_the_layer() -> None:
    assert len(modules()) > 30


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(FLOWCORE)))
def test_each_module_class_and_function_is_within_its_size(path: Path) -> None:
    assert oversized(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_the_check_finds_what_is_too_long() -> None:
    # Given a module with a 41-line function inside a 201-line class, over 300 lines in all
    body = "\n".join(f"        x{number} = {number}" for number in range(40))
    filler = "\n".join(f"    y{number} = {number}" for number in range(158))
    source = f"class Big:\n    def long(self) -> None:\n{body}\n\n{filler}\n\n\nz = 1\n" + "\n" * 100
    # When it is checked / Then all three are reported
    found = oversized(source, "big.py")
    assert any("big.py has" in line for line in found)
    assert any("class Big has 201 lines" in line for line in found)
    assert any("function long has 41 lines" in line for line in found)
