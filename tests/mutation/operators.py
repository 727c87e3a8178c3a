"""Mutants of one module, one operator at a time, made on its syntax tree.

Operators: comparisons (`<`→`<=`, `==`→`!=`, `in`→`not in`, ...), arithmetic (`+`↔`-`, `*`→`/`, ...),
set operators (`&`↔`|`, also in `&=`/`|=`), booleans (`and`↔`or`, `not x`→`x`), constants (True↔False,
0↔1, n→n+1, "text"→"" and ""→"XX") and deleted statements (an expression, an `if`/`for`/`while`, a
`raise`/`break`/`continue`, an augmented assignment, or an assignment that changes an existing
binding). Not mutated: docstrings, annotations and type aliases, decorators, `__all__`, imports,
asserts (type narrowing only) and f-string text.

Each mutant has a key that names what changed, not where, so the list of equivalent mutants
survives edits that move lines.
"""

from __future__ import annotations

import ast
import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import TypeVar

_Node = TypeVar("_Node", bound=ast.AST)

_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINARY: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}
_BOOLEAN: dict[type[ast.boolop], type[ast.boolop]] = {ast.And: ast.Or, ast.Or: ast.And}
_TYPING_NAMES = frozenset({"Literal", "Callable", "Final", "tuple", "dict", "list", "set", "frozenset"})


@dataclass(frozen=True)
class Site:
    """Where a mutant sits: its function (or "<module>"), its lines, and whether only a call runs it."""

    qualname: str
    lines: range
    in_function_body: bool  # False: the code runs at import, so every test exercises it


@dataclass(frozen=True)
class Mutant:
    module: str  # "sis_sync.rules"
    path: Path
    key: str  # "rules.py:evaluate: compare: 'a >= b' -> 'a > b'" (+ " #2" for a repeat)
    site: Site
    code: CodeType = field(repr=False, compare=False)

    @property
    def line(self) -> int:
        return self.site.lines.start


def mutants_of(module: str, path: Path) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    found = _Sites(target=None)
    found.visit(copy.deepcopy(tree))
    seen: Counter[str] = Counter()
    mutants: list[Mutant] = []
    for index, (description, site) in enumerate(found.recorded):
        key = f"{path.name}:{site.qualname}: {description}"
        seen[key] += 1
        if seen[key] > 1:
            key = f"{key} #{seen[key]}"
        mutated = _Sites(target=index).visit(copy.deepcopy(tree))
        ast.fix_missing_locations(mutated)
        code = compile(mutated, str(path), "exec", dont_inherit=True)
        mutants.append(Mutant(module=module, path=path, key=key, site=site, code=code))
    return mutants


class _Sites(ast.NodeTransformer):
    """Numbers every possible mutation in a fixed walk order; applies the one numbered `target`.

    With `target=None` it only records (description, site) for each; the walk never changes, so
    a number means the same mutation in every pass.
    """

    def __init__(self, target: int | None) -> None:
        self.target = target
        self.recorded: list[tuple[str, Site]] = []
        self._scope: list[str] = []
        self._function_depth = 0
        self._bound: list[set[str]] = [set()]

    # --- scopes and what is never mutated --------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self._scope.append(node.name)
        self._function_depth += 1
        arguments = node.args
        self._bound.append(
            {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
            | {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        )
        node.body = self._statements(node.body, docstring=True)
        self._bound.pop()
        self._function_depth -= 1
        self._scope.pop()
        return node  # defaults, decorators and annotations are left alone

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._scope.append(node.name)
        node.body = self._statements(node.body, docstring=True)
        self._scope.pop()
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._statements(node.body, docstring=True)
        return node

    def _statements(self, body: list[ast.stmt], docstring: bool) -> list[ast.stmt]:
        result: list[ast.stmt] = []
        for position, statement in enumerate(body):
            if docstring and position == 0 and _is_docstring(statement):
                result.append(statement)
                continue
            visited = self.visit(statement)
            result.append(visited if isinstance(visited, ast.stmt) else ast.Pass())
        return result

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Assert | ast.JoinedStr):
            return node
        if isinstance(node, ast.AnnAssign):
            return self._ann_assign(node)
        if isinstance(node, ast.Assign) and _never_mutated(node):
            return node
        if isinstance(node, ast.stmt):
            replaced = self._mutate(node, self._statement_deletions(node))
            if replaced is not None:
                return replaced
            self._bind(node)
            for name, value in ast.iter_fields(node):
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    setattr(node, name, self._statements(value, docstring=False))
                elif isinstance(value, list):
                    setattr(
                        node,
                        name,
                        [self.visit(item) if isinstance(item, ast.AST) else item for item in value],
                    )
                elif isinstance(value, ast.AST):
                    setattr(node, name, self.visit(value))
            return node
        replaced = self._mutate(node, self._expression_mutations(node))
        if replaced is not None:
            return replaced
        return super().generic_visit(node)

    def _ann_assign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            replaced = self._mutate(node, self._statement_deletions(node))
            if replaced is not None:
                return replaced
            node.value = self.visit(node.value)
        self._bind(node)
        return node

    def _bind(self, node: ast.stmt) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        self._bound[-1].update(target.id for target in targets if isinstance(target, ast.Name))

    # --- the operators -------------------------------------------------------------------------------

    def _statement_deletions(self, node: ast.stmt) -> list[tuple[str, ast.AST]]:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return []  # `...` in a Protocol: nothing to delete
        deletable = isinstance(
            node,
            ast.Expr | ast.If | ast.For | ast.While | ast.Raise | ast.Break | ast.Continue | ast.AugAssign,
        ) or (isinstance(node, ast.Assign | ast.AnnAssign) and self._rebinds(node))
        if not deletable:
            return []
        first_line = ast.unparse(node).splitlines()[0]
        shown = first_line if len(first_line) <= 90 else first_line[:87] + "..."
        replacements: list[tuple[str, ast.AST]] = [(f"delete: {shown!r}", ast.Pass())]
        if isinstance(node, ast.AugAssign) and type(node.op) in _BINARY:
            swapped = _BINARY[type(node.op)]
            replacements.append((f"augmented: {shown!r} -> {_op_text(swapped)}=", _with(node, op=swapped())))
        return replacements

    def _rebinds(self, node: ast.Assign | ast.AnnAssign) -> bool:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(not isinstance(target, ast.Name) or target.id in self._bound[-1] for target in targets)

    def _expression_mutations(self, node: ast.AST) -> list[tuple[str, ast.AST]]:
        text = _short(node)
        if isinstance(node, ast.Compare):
            return [
                (f"compare: {text!r} -> {_short(mutated)!r}", mutated) for mutated in _compare_mutants(node)
            ]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            binary = _with(node, op=_BINARY[type(node.op)]())
            return [(f"binary: {text!r} -> {_short(binary)!r}", binary)]
        if isinstance(node, ast.BoolOp):
            boolean = _with(node, op=_BOOLEAN[type(node.op)]())
            return [(f"boolean: {text!r} -> {_short(boolean)!r}", boolean)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            return [(f"unary: {text!r} -> {_short(node.operand)!r}", node.operand)]
        if isinstance(node, ast.Constant):
            value = _constant_mutant(node.value)
            if value is not None:
                return [(f"constant: {node.value!r} -> {value!r}", ast.Constant(value))]
        return []

    def _mutate(self, node: ast.AST, options: list[tuple[str, ast.AST]]) -> ast.AST | None:
        for description, replacement in options:
            index = len(self.recorded)
            self.recorded.append((description, self._site(node)))
            if index == self.target:
                return ast.copy_location(replacement, node)
        return None

    def _site(self, node: ast.AST) -> Site:
        start = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", start) or start
        return Site(
            qualname=".".join(self._scope) or "<module>",
            lines=range(start, end + 1),
            in_function_body=self._function_depth > 0,
        )


def _constant_mutant(value: object) -> bool | int | float | str | None:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return {0: 1, 1: 0}.get(value, value + 1)
    if isinstance(value, float):
        return value + 1
    if isinstance(value, str):
        return "" if value else "XX"
    return None  # None, Ellipsis, bytes: left alone


def _compare_mutants(node: ast.Compare) -> Iterator[ast.Compare]:
    for position, operator in enumerate(node.ops):
        swapped = _COMPARE.get(type(operator))
        if swapped is not None:
            ops = [*node.ops[:position], swapped(), *node.ops[position + 1 :]]
            yield _with(node, ops=ops)


def _with(node: _Node, **fields: object) -> _Node:
    mutated = copy.copy(node)
    for name, value in fields.items():
        setattr(mutated, name, value)
    return mutated


def _op_text(operator: type[ast.operator]) -> str:
    return ast.unparse(ast.BinOp(ast.Name("a"), operator(), ast.Name("b")))[2:-2]


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 90 else text[:87] + "..."


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _never_mutated(node: ast.Assign) -> bool:
    """`__all__`, and type aliases such as `ChangeKey = tuple[RecordType, str]` (typing only)."""
    names = {target.id for target in node.targets if isinstance(target, ast.Name)}
    if "__all__" in names:
        return True
    value = node.value
    return isinstance(value, ast.Subscript) and (
        isinstance(value.value, ast.Name) and value.value.id in _TYPING_NAMES
    )
