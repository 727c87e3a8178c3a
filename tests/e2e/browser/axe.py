"""axe-core in the browser tests: run it on the page as it is now and fail on serious or critical
violations, naming each rule and the nodes it found.

axe-core is vendored (tests/e2e/browser/assets/axe-core, see its VERSION file), so the tests need
no network. It is evaluated through the DevTools protocol rather than a <script> tag: the
dashboard's Content-Security-Policy would refuse an injected inline script.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tests.e2e.browser.dashboard import shot

AXE_JS = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """Every violation axe-core finds on the page (all of its rules, whatever their impact)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result: dict[str, Any] = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    found: list[dict[str, Any]] = result["violations"]
    return found


def describe(violation: dict[str, Any]) -> str:
    targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"])
    return (
        f"{violation['impact']} {violation['id']}: {violation['help']} ({len(violation['nodes'])}: {targets})"
    )


def assert_accessible(page: Any, label: str) -> None:
    """Screenshot the page as `a11y-<label>`, then fail listing each serious or critical violation."""
    shot(page, f"a11y-{label}")
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {label} ({page.url}):\n" + "\n".join(map(describe, blocking))
