"""The dashboard's ES modules (functions/api/static/app.js and js/*.js), loaded by the browser as
they are: every import must name a file the api function serves as JavaScript, under the page's
Content-Security-Policy, and every module must be imported by something (no dead module)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.api_events import call, http_event

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"
ENTRY = STATIC / "app.js"
# `import { a, b } from './x.js';` at the start of a line: the only import form the modules use
IMPORT = re.compile(r"^import \{[^}]*\} from '(\.{1,2}/[^']+)';$", re.MULTILINE)
PRELOAD = re.compile(r'<link rel="modulepreload" href="static/([^"]+)">')
JAVASCRIPT = {"text/javascript", "application/javascript"}


def imported_by(module: Path) -> list[Path]:
    return [(module.parent / spec).resolve() for spec in IMPORT.findall(module.read_text(encoding="utf-8"))]


def reachable_from(entry: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(imported_by(module))
    return seen


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from functions.api.app import lambda_handler

    return lambda_handler


def test_the_page_loads_the_entry_module_and_every_module_is_imported() -> None:
    # Given the page and the modules in the static folder
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    modules = {path.resolve() for path in STATIC.rglob("*.js")}
    # When the imports are followed from the entry module
    reached = reachable_from(ENTRY)
    # Then the page loads the entry as a module, every import names an existing file, and no module
    # is left that nothing imports
    assert '<script type="module" src="static/app.js"></script>' in page
    assert reached <= modules, sorted(str(p) for p in reached - modules)
    assert modules <= reached, sorted(str(p) for p in modules - reached)
    assert len(modules) > 10  # the split into modules is in place


def test_the_page_preloads_exactly_the_modules_the_entry_imports() -> None:
    # Given the page's <link rel="modulepreload"> tags (without them the browser learns of each import
    # level only once the level above has loaded: one round trip per level)
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    preloaded = {(STATIC / href).resolve() for href in PRELOAD.findall(page)}
    # Then they name every module the entry imports, directly or not, and nothing else
    assert preloaded == reachable_from(ENTRY) - {ENTRY.resolve()}


def test_every_module_is_served_as_javascript_under_the_page_policy(handler: Any) -> None:
    # Given every module the entry reaches; When each is asked for as the browser asks (at /static/…)
    for module in sorted(reachable_from(ENTRY)):
        raw_path = "/static/" + module.relative_to(STATIC.resolve()).as_posix()
        response = call(handler, http_event("GET", raw_path))
        # Then it is 200 with a JavaScript type (a module script of another type is refused by the
        # browser), nosniff, and the dashboard's policy (script-src falls back to default-src 'self')
        assert response.status == 200, raw_path
        assert response.headers["content-type"].split(";")[0] in JAVASCRIPT, raw_path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.text == module.read_text(encoding="utf-8")
