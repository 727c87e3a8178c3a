"""IAM identity-policy evaluation, pure: does a set of statements allow one action on one resource?

The semantics AWS documents for identity-based policies of one principal in one account:
- an explicit `Deny` that applies wins; otherwise an `Allow` that applies allows; otherwise the
  request is implicitly denied;
- `Action`/`NotAction` match case-insensitively, `Resource`/`NotResource` case-sensitively, both
  with the wildcards `*` (any run of characters) and `?` (one character); in an ARN a wildcard
  stays within its colon-separated segment, except in the last (resource) part, which may itself
  contain colons and slashes;
- a statement with a `Condition` applies only when every operator's every key matches. Keys are
  looked up in the request's context; `MODELED_KEYS` lists the keys the recorder fills in when they
  exist for a request. A condition on any other key raises `UnmodeledConditionError` (only when the
  statement's action and resource match): its truth would be a guess, so nobody gets a silent pass.

Policy variables (`${aws:username}`) and operators outside `_OPERATORS` are refused the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

ContextValue = str | tuple[str, ...]

MODELED_KEYS = frozenset(
    {
        "aws:securetransport",  # every botocore call here is HTTPS: always "true"
        "aws:requestedregion",
        "s3:prefix",  # ListBucket's Prefix
        "kms:viaservice",  # present only when a service calls KMS on the caller's behalf
        "kms:resourcealiases",
        "kms:calleraccount",
    }
)


class Decision(Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitly denied"
    EXPLICIT_DENY = "explicitly denied"


class PolicyError(ValueError):
    """A statement this evaluator cannot judge honestly (unknown operator, key or variable)."""


class UnmodeledConditionError(PolicyError):
    pass


@dataclass(frozen=True)
class Request:
    """One authorization: an IAM action (`s3:GetObject`) on one resource ARN, with condition keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sid: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        unknown = set(raw) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise PolicyError(f"identity policy statement with {sorted(unknown)}")
        if raw["Effect"] not in {"Allow", "Deny"}:
            raise PolicyError(f"unknown Effect {raw['Effect']!r}")
        return cls(
            effect=raw["Effect"],
            actions=_strings(raw.get("Action", ())),
            not_actions=_strings(raw["NotAction"]) if "NotAction" in raw else None,
            resources=_strings(raw.get("Resource", ())),
            not_resources=_strings(raw["NotResource"]) if "NotResource" in raw else None,
            condition=dict(raw.get("Condition", {})),
            sid=str(raw.get("Sid", "")),
        )

    def applies_to(self, request: Request) -> bool:
        if self.not_actions is not None:
            action_matches = not any(_action_matches(p, request.action) for p in self.not_actions)
        else:
            action_matches = any(_action_matches(p, request.action) for p in self.actions)
        if not action_matches:
            return False
        if self.not_resources is not None:
            resource_matches = not any(arn_matches(p, request.resource) for p in self.not_resources)
        else:
            resource_matches = any(arn_matches(p, request.resource) for p in self.resources)
        return resource_matches and conditions_hold(self.condition, request.context)


def statements_of(documents: Iterable[Mapping[str, Any]]) -> list[Statement]:
    """Every statement of some policy documents (`Statement` may be one object or a list)."""
    found: list[Statement] = []
    for document in documents:
        raw = document["Statement"]
        found.extend(Statement.parse(s) for s in (raw if isinstance(raw, list) else [raw]))
    return found


def evaluate(statements: Sequence[Statement], request: Request) -> Decision:
    applying = [s for s in statements if s.applies_to(request)]
    if any(s.effect == "Deny" for s in applying):
        return Decision.EXPLICIT_DENY
    if any(s.effect == "Allow" for s in applying):
        return Decision.ALLOWED
    return Decision.IMPLICIT_DENY


# ------------------------------------------------------------------ matching


def _strings(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@cache
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise PolicyError(f"policy variables are not evaluated: {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def _action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, case_sensitive=False).fullmatch(action) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN match: segment by segment; the sixth (resource) part takes the rest of the ARN."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return _glob(pattern, case_sensitive=True).fullmatch(arn) is not None
    return all(
        _glob(p, case_sensitive=True).fullmatch(a) is not None for p, a in zip(wanted, actual, strict=True)
    )


# ------------------------------------------------------------------ conditions


def _string_equals(wanted: str, actual: str) -> bool:
    return wanted == actual


def _string_equals_ignore_case(wanted: str, actual: str) -> bool:
    return wanted.lower() == actual.lower()


def _string_like(wanted: str, actual: str) -> bool:
    return _glob(wanted, case_sensitive=True).fullmatch(actual) is not None


def _bool(wanted: str, actual: str) -> bool:
    return wanted.lower() == actual.lower()


_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False),
    "ArnNotEquals": (_string_equals, True),
    "ArnLike": (arn_matches, False),
    "ArnNotLike": (arn_matches, True),
    "Bool": (_bool, False),
}
"""Operator -> (how one policy value matches one request value, whether the operator is negated)."""


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]) -> bool:
    """Every operator and every key must hold (AND); the values listed for one key are ORed."""
    lowered = {key.lower(): value for key, value in context.items()}
    return all(
        _holds(operator, key.lower(), _strings(values), lowered)
        for operator, keys in condition.items()
        for key, values in keys.items()
    )


def _holds(operator: str, key: str, wanted: tuple[str, ...], context: Mapping[str, ContextValue]) -> bool:
    if key not in MODELED_KEYS:
        raise UnmodeledConditionError(f"condition key {key!r} is not modeled by the tests' IAM evaluator")
    present = key in context
    actual = _strings(context[key]) if present else ()
    if operator == "Null":
        [expected] = wanted
        return (not present) == (expected.lower() == "true")
    qualifier, _, rest = operator.rpartition(":")
    base = rest.removesuffix("IfExists")
    if base not in _OPERATORS or qualifier not in {"", "ForAnyValue", "ForAllValues"}:
        raise PolicyError(f"condition operator {operator!r} is not evaluated")
    if not present and rest.endswith("IfExists"):
        return True
    match, negated = _OPERATORS[base]

    def one(value: str) -> bool:
        hit = any(match(w, value) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":  # true for an absent key, as AWS documents
        return all(one(v) for v in actual)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in actual)
    if not present:  # a negated operator matches an absent key; the others do not
        return negated
    if len(actual) != 1:
        raise PolicyError(f"{operator} on the multivalued key {key!r} needs ForAnyValue/ForAllValues")
    return one(actual[0])
