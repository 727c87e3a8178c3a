"""What `sam build` produces imports and runs with nothing but the built function folder and the
layer's `python/` on the path (DESIGN §7).

Production is arm64, whose wheels cannot load here, so the build under test is an x86_64 copy of
template.yaml (architectures switched, local paths made absolute), built by the pinned sam-cli of
`.venv-sam` (`make sam`). sam's own build cache (keyed on source hashes) lives in
`.aws-sam/built-artifact/` so reruns skip the layer's pip install unless its inputs changed; the
build itself runs every time. Every function with a CodeUri in the template is checked: a function
added to the template is covered without editing this file.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_sam_template
from tests.api_events import http_event

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM = REPO / ".venv-sam" / "bin" / "sam"
WORKSPACE = REPO / ".aws-sam" / "built-artifact"
PROBE = REPO / "tests" / "built_probe.py"
LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
# What the handlers need to import and answer a public route; no AWS endpoint is ever reached.
PROBE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "sis-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "SisSync",
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    handler: str
    layers: tuple[str, ...]
    """Logical ids of the template's own layers the function uses."""


def functions_of(template: Mapping[str, Any]) -> list[BuiltFunction]:
    """Every AWS::Serverless::Function with local code (a CodeUri), Globals applied."""
    defaults = template.get("Globals", {}).get("Function", {})
    resources = template["Resources"]
    own_layers = {lid for lid, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    found = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Serverless::Function" or "CodeUri" not in properties:
            continue
        layers = properties.get("Layers", defaults.get("Layers", []))
        refs = tuple(layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer)
        found.append(
            BuiltFunction(
                logical_id=logical_id,
                handler=properties.get("Handler", defaults.get("Handler")),
                layers=tuple(ref for ref in refs if ref in own_layers),
            )
        )
    return found


def x86_64_variant(template: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The template with every architecture switched to x86_64 and local paths made absolute."""
    variant = json.loads(json.dumps(template))
    switched = _switch_architectures(variant)
    if not switched:
        raise AssertionError("no arm64 architecture found in template.yaml: production is arm64")
    for resource in variant["Resources"].values():
        key = LOCAL_PATHS.get(resource["Type"])
        value = resource.get("Properties", {}).get(key)
        if isinstance(value, str) and "://" not in value:
            resource["Properties"][key] = str(root / value)
    return variant


def _switch_architectures(node: Any) -> int:
    switched = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"Architectures", "CompatibleArchitectures"} and value == ["arm64"]:
                node[key] = ["x86_64"]
                switched += 1
            elif key == "BuildArchitecture" and value == "arm64":
                node[key] = "x86_64"
                switched += 1
            else:
                switched += _switch_architectures(value)
    elif isinstance(node, list):
        switched += sum(_switch_architectures(item) for item in node)
    return switched


TEMPLATE_DICT = load_sam_template(TEMPLATE)
FUNCTIONS = functions_of(TEMPLATE_DICT)


def sam_environment() -> dict[str, str]:
    return os.environ | {"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def sam() -> Path:
    # `make test` bootstraps it first; this makes a direct pytest run do the same (a no-op when fresh)
    subprocess.run(["make", "--no-print-directory", "sam"], cwd=REPO, check=True)
    return SAM


@pytest.fixture(scope="module")
def build_dir(sam: Path) -> Iterator[Path]:
    WORKSPACE.mkdir(parents=True, exist_ok=True)
    with (WORKSPACE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time in the shared workspace
        template = WORKSPACE / "template.json"
        template.write_text(json.dumps(x86_64_variant(TEMPLATE_DICT, REPO), indent=1), encoding="utf-8")
        build = WORKSPACE / "build"
        built = subprocess.run(
            [
                str(sam),
                "build",
                "--template-file",
                str(template),
                "--build-dir",
                str(build),
                "--cached",
                "--cache-dir",
                str(WORKSPACE / "cache"),
            ],
            cwd=WORKSPACE,
            env=sam_environment(),
            capture_output=True,
            text=True,
        )
        assert built.returncode == 0, (built.stdout + built.stderr)[-5000:]
        yield build


def probe(build: Path, function: BuiltFunction, events: list[dict[str, Any]], tmp_path: Path) -> Any:
    """Import the built handler in a clean interpreter (no site-packages) and answer `events`."""
    path = [build / function.logical_id, *(build / layer / "python" for layer in function.layers)]
    request, result = tmp_path / "request.json", tmp_path / "result.json"
    request.write_text(
        json.dumps({"path": [str(p) for p in path], "handler": function.handler, "events": events}),
        encoding="utf-8",
    )
    ran = subprocess.run(
        [sys.executable, "-I", "-S", str(PROBE), str(request), str(result)],
        cwd=tmp_path,
        env=PROBE_ENVIRONMENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    answer = json.loads(result.read_text(encoding="utf-8"))
    assert answer["foreign_modules"] == [], "imported from outside the built artifact"
    assert Path(answer["module_file"]).is_relative_to(build / function.logical_id)
    return answer["responses"]


def test_the_template_declares_the_functions_this_test_builds() -> None:
    # Given template.yaml; When its functions are discovered; Then the api and the poll are among
    # them, with their handler and the template's own layer from Globals
    found = {function.logical_id: function for function in FUNCTIONS}
    assert {"ApiFunction", "PollCleverFunction"} <= set(found)
    assert found["ApiFunction"] == BuiltFunction("ApiFunction", "app.lambda_handler", ("CommonLayer",))


def test_the_variant_switches_every_architecture_and_keeps_production_on_arm64() -> None:
    # Given the template; When the x86_64 variant is made; Then no arm64 is left in it and the
    # template itself is untouched
    variant = x86_64_variant(TEMPLATE_DICT, REPO)
    assert "arm64" not in json.dumps(variant)
    assert TEMPLATE_DICT["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert variant["Resources"]["ApiFunction"]["Properties"]["CodeUri"] == str(REPO / "functions/api/")


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_built_handler_imports_with_only_its_folder_and_the_layer(
    build_dir: Path, function: BuiltFunction, tmp_path: Path
) -> None:
    # Given the built artifact; When the handler is imported in a clean interpreter with only its
    # built folder and its layers' python/ on sys.path; Then it imports, from there
    assert probe(build_dir, function, [], tmp_path) == []


def test_the_built_api_answers_an_http_api_event(build_dir: Path, tmp_path: Path) -> None:
    # Given the built api function; When API Gateway's v2 events for the health check and the
    # OpenAPI document reach its handler; Then both answer 200, the document as JSON
    api = next(function for function in FUNCTIONS if function.logical_id == "ApiFunction")
    health, openapi = probe(
        build_dir, api, [http_event("GET", "/v1/health"), http_event("GET", "/v1/openapi.json")], tmp_path
    )
    assert health["statusCode"] == 200, health
    assert openapi["statusCode"] == 200, openapi
    document = json.loads(openapi["body"])
    assert document["info"]["title"] == "sis-sync admin API"
    assert "/v1/health" in document["paths"]


def test_the_built_api_serves_every_script_of_the_dashboard(build_dir: Path, tmp_path: Path) -> None:
    # Given the built api function and the dashboard's scripts in the repository (the entry app.js
    # and the ES modules it imports); When each is asked for at /static/…; Then each answers 200 as
    # JavaScript: the package holds every module the page loads
    api = next(function for function in FUNCTIONS if function.logical_id == "ApiFunction")
    static = REPO / "functions" / "api" / "static"
    scripts = sorted(path.relative_to(static).as_posix() for path in static.rglob("*.js"))
    assert "app.js" in scripts
    assert len(scripts) > 1
    answers = probe(build_dir, api, [http_event("GET", f"/static/{script}") for script in scripts], tmp_path)
    for script, answer in zip(scripts, answers, strict=True):
        headers = {key.lower(): value for key, value in answer["headers"].items()}
        assert answer["statusCode"] == 200, script
        assert headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}, script


def test_sam_validate_lint_passes_on_the_production_template(sam: Path) -> None:
    # Given template.yaml as deployed (arm64); When sam validates it with cfn-lint; Then it is valid
    ran = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=REPO,
        env=sam_environment(),
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
