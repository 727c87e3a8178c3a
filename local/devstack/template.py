"""template.yaml as plain CloudFormation, offline: the one schema tests and the devstack build from.

`load_sam_template` reads the SAM template (short-form tags such as `!Ref` understood),
`transform_template` runs aws-sam-translator without any AWS call, and `Resolver` evaluates the
handful of intrinsic functions the template uses once physical names are known.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

# Local code/definition paths are rewritten to this fake bucket before the transform (SAM only
# accepts S3 locations offline); the object key is the path relative to the template's folder.
ARTIFACT_BUCKET = "sis-sync-local-artifacts"

_LOCAL_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class _OfflineSession:
    """The one thing samtranslator asks of a boto3 Session: its region (no AWS call is made)."""

    def __init__(self, region_name: str) -> None:
        self.region_name = region_name


def _no_managed_policies() -> dict[str, str]:
    """Stands in for samtranslator's IAM-backed policy loader: the template names no managed policy."""
    return {}


def load_sam_template(path: Path) -> dict[str, Any]:
    """The SAM template as plain dicts/lists/strings (`!Ref x` becomes `{"Ref": "x"}`)."""
    loaded = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    plain: dict[str, Any] = json.loads(json.dumps(loaded))
    return plain


def transform_template(sam_template: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """Translate SAM to CloudFormation offline; local URIs become `s3://ARTIFACT_BUCKET/<path>`."""
    template = copy.deepcopy(dict(sam_template))
    for resource in template.get("Resources", {}).values():
        prop = _LOCAL_URI_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        value = properties.get(prop) if prop else None
        if isinstance(value, str) and not value.startswith("s3://"):
            properties[prop] = f"s3://{ARTIFACT_BUCKET}/{value}"
    # What samtranslator.translator.transform.transform does, minus its boto3 region lookup.
    parameters: dict[str, Any] = {}
    to_py27_compatible_template(template, parameters)
    translator = Translator(None, Parser(), boto_session=_OfflineSession(region))
    translated = translator.translate(template, parameters, get_managed_policy_map=_no_managed_policies)
    cloudformation: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return cloudformation


def artifact_path(template_dir: Path, location: Mapping[str, Any]) -> Path:
    """The local file or folder behind an S3 location written by `transform_template`.

    Accepts both shapes CloudFormation uses: `{Bucket, Key}` and a function's `{S3Bucket, S3Key}`.
    """
    bucket = location.get("Bucket", location.get("S3Bucket"))
    key = location.get("Key", location.get("S3Key"))
    if bucket != ARTIFACT_BUCKET or not isinstance(key, str):
        raise ValueError(f"not a local artifact: {location!r}")
    return template_dir / key


class UnresolvableError(ValueError):
    """An intrinsic function or reference the resolver does not know."""


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If and conditions.

    `refs` maps a logical id, parameter or pseudo parameter to its `Ref` value; `attributes` maps
    `"LogicalId.Attribute"` to its `Fn::GetAtt` value.
    """

    def __init__(
        self,
        refs: Mapping[str, str],
        attributes: Mapping[str, str],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self._refs = dict(refs)
        self._attributes = dict(attributes)
        self._condition_definitions = dict(conditions or {})
        self._condition_values: dict[str, bool] = {}

    def with_names(self, refs: Mapping[str, str], attributes: Mapping[str, str]) -> Resolver:
        """This resolver with some physical names replaced (ids a service made up on creation)."""
        return Resolver(
            self._refs | dict(refs), self._attributes | dict(attributes), self._condition_definitions
        )

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            handler = getattr(self, "_" + key.replace("::", "_").replace("Fn_", "fn_"), None)
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                if handler is None:
                    raise UnresolvableError(f"unsupported intrinsic {key}")
                return handler(argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            self._condition_values[name] = self._truth(self._condition_definitions[name])
        return self._condition_values[name]

    def _truth(self, value: Any) -> bool:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        raise UnresolvableError(f"not a condition: {value!r}")

    def _Ref(self, name: str) -> str:  # noqa: N802 - named after the intrinsic
        if name not in self._refs:
            raise UnresolvableError(f"unknown Ref {name}")
        return self._refs[name]

    def _fn_GetAtt(self, argument: str | list[str]) -> str:  # noqa: N802
        key = argument if isinstance(argument, str) else ".".join(argument)
        if key not in self._attributes:
            raise UnresolvableError(f"unknown GetAtt {key}")
        return self._attributes[key]

    def _fn_Sub(self, argument: str | list[Any]) -> str:  # noqa: N802
        if isinstance(argument, str):
            text, local = argument, {}
        else:
            text, local = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name and not name.startswith("AWS::"):
                return self._fn_GetAtt(name)
            return self._Ref(name)

        return _SUB_VARIABLE.sub(lookup, text)

    def _fn_Join(self, argument: list[Any]) -> str:  # noqa: N802
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _fn_Select(self, argument: list[Any]) -> Any:  # noqa: N802
        index, items = self.resolve(argument)
        return items[int(index)]

    def _fn_Split(self, argument: list[Any]) -> list[str]:  # noqa: N802
        delimiter, text = self.resolve(argument)
        return str(text).split(delimiter)

    def _fn_If(self, argument: list[Any]) -> Any:  # noqa: N802
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_Equals(self, argument: list[Any]) -> bool:  # noqa: N802
        left, right = self.resolve(argument)
        return str(left) == str(right)

    def _fn_Not(self, argument: list[Any]) -> bool:  # noqa: N802
        return not self._truth(argument[0])

    def _fn_And(self, argument: list[Any]) -> bool:  # noqa: N802
        return all(self._truth(item) for item in argument)

    def _fn_Or(self, argument: list[Any]) -> bool:  # noqa: N802
        return any(self._truth(item) for item in argument)

    def _Condition(self, name: str) -> bool:  # noqa: N802
        return self.condition(name)


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """Apply DefinitionSubstitutions the way CloudFormation does: textual `${Key}` replacement."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise UnresolvableError(f"no DefinitionSubstitution for ${{{name}}}")
        return str(substitutions[name])

    return _SUB_VARIABLE.sub(lookup, text)
