"""Runs inside the built artifact, as Lambda would: `python -I -S built_probe.py REQUEST RESULT`.

Isolated (-I) and without site (-S), so nothing of the venv that runs the tests can be imported:
`sys.path` is the standard library plus exactly the folders the request names (the built function
folder and the layer's `python/`). Stdlib only. REQUEST is a JSON file
`{"path": [...], "handler": "app.lambda_handler", "events": [...]}`; RESULT receives
`{"module_file", "foreign_modules", "responses"}` (the handler's answer to each event, in order).
"""

import importlib
import json
import sys
import sysconfig
from pathlib import Path


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "built-artifact-probe"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:built-artifact-probe"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/built-artifact-probe"
    log_stream_name = "probe"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def foreign_modules(allowed: list[Path]) -> list[str]:
    """Modules loaded from anywhere but the standard library and the allowed folders."""
    roots = [Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")]
    roots += [folder.resolve() for folder in allowed]
    foreign = []
    this_probe = Path(__file__).resolve()  # also aliased as __mp_main__ once multiprocessing loads
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or Path(file).resolve() == this_probe:
            continue
        if not any(Path(file).resolve().is_relative_to(root) for root in roots):
            foreign.append(f"{name}: {file}")
    return sorted(foreign)


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    folders = [Path(entry) for entry in request["path"]]
    sys.path[:0] = [str(folder) for folder in folders]
    module_name, _, attribute = request["handler"].rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute)
    responses = [handler(event, Context()) for event in request["events"]]
    result = {
        "module_file": module.__file__,
        "foreign_modules": foreign_modules(folders),
        "responses": responses,
    }
    Path(sys.argv[2]).write_text(json.dumps(result), encoding="utf-8")


main()
