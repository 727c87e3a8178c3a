"""The devstack names each handler by its package path and insists that a function's own modules
import the way Lambda imports them: top-level, from the function's folder on the import path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.stack import _handler_module
from devstack.template import ARTIFACT_BUCKET

HANDLER = "app.lambda_handler"
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _function(root: Path, name: str, *own_modules: str) -> dict[str, object]:
    folder = root / "functions" / name
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("", encoding="utf-8")
    (folder / "static").mkdir()  # a data folder is not a module
    for module in own_modules:
        (folder / module).mkdir()
        (folder / module / "__init__.py").write_text("", encoding="utf-8")
    return {"Code": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": f"functions/{name}/"}, "Handler": HANDLER}


def test_a_handler_alone_in_its_folder_is_named_by_its_package_path(tmp_path: Path) -> None:
    # Given a function whose folder holds only its handler (and data); When the devstack names it
    # Then it is the dotted path from the template's folder, with no import path needed
    properties = _function(tmp_path, "poll")
    assert _handler_module(tmp_path, properties) == "functions.poll.app.lambda_handler"


def test_a_function_with_its_own_modules_needs_its_folder_on_the_import_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function with its own `routes` package beside the handler
    properties = _function(tmp_path, "api", "routes")
    # When its folder is not on the import path; Then the devstack refuses at once, naming it
    with pytest.raises(RuntimeError, match=r"functions/api must be on the import path.*\['routes'\]"):
        _handler_module(tmp_path, properties)
    # When it is (as pyproject, the Makefile and the browser tests put functions/api); Then it is named
    monkeypatch.syspath_prepend(str(tmp_path / "functions" / "api"))
    assert _handler_module(tmp_path, properties) == "functions.api.app.lambda_handler"


def _imports_with_a_fallback(source: str) -> bool:
    """`try: import …` whose handler catches ImportError: an import that works two ways."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Try) and any(isinstance(s, ast.Import | ast.ImportFrom) for s in node.body):
            caught = [ast.unparse(h.type) for h in node.handlers if h.type is not None]
            if any("ImportError" in c or "ModuleNotFoundError" in c for c in caught):
                return True
    return False


def test_no_function_module_imports_two_ways() -> None:
    # Given every module of every function; When their imports are read; Then none falls back to a
    # second import shape (STYLE: one import root per function)
    modules = sorted(FUNCTIONS.rglob("*.py"))
    assert any(m.name == "app.py" for m in modules)
    two_ways = [str(m.relative_to(FUNCTIONS)) for m in modules if _imports_with_a_fallback(m.read_text())]
    assert two_ways == []
    assert _imports_with_a_fallback(
        "try:\n    from .routes import a\nexcept ImportError:\n    from routes import a\n"
    )
