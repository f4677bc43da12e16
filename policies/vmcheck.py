"""Static checks that keep the pack inside what regorus's bytecode VM (RVM) decides correctly.

Why: the embedded engine evaluates the decision with the RVM of celine-regorus 0.9.1 (about four
times faster than the tree-walking interpreter, policies/engine.py), and that RVM differs from
Rego (and from the interpreter, which the OPA path and the Rego tests use) in ways that would
change decisions silently:

* ``x := expr`` with an undefined ``expr`` does **not** fail the body: ``x`` holds "undefined",
  and a later ``not f(x)`` / ``not x == 1`` / ``not x in s`` then *succeeds*, a rule that only
  needed the assignment as an existence check fires, and ``x`` in a rule head or a comprehension
  term becomes an ``"<undefined>"`` element. Positive uses are safe: a comparison, a builtin or
  function call, a membership test or a ``some .. in x`` with ``x`` undefined fails as in Rego.
* ``not x`` where ``x`` has a value that is not a boolean (a number, string, object, array, set)
  is an internal error that ends the enclosing rule *silently*: inside ``some .. in`` the rest of
  the iterations are skipped, so a deny rule loses items (upstream #626 fixed ``Not``).
* ``every`` is always true (upstream #765); ``x in obj`` also matches obj's *keys* (#626).

The first three, and comprehension terms that may be undefined (the VM yields an
``"<undefined>"`` element where the interpreter yields none, so a ``count`` differs), are checked
here (``check_sources``); membership in objects, and everything the checks cannot see, is
covered by the differential test (tests/policies/test_pack_equivalence.py: VM against the
interpreter on the seeded corpus under every mode) and by the engine's load-time self-check. The
rule this enforces, in words: **a variable bound with ``:=`` to something that may
be undefined must be used afterwards, in the same body, in a positive condition** (directly, or
through further ``:=`` assignments that are themselves used that way); a use under ``not``, in
the head, or inside a comprehension does not count. "May be undefined": the right-hand side
indexes with a computed key (``x[y]``), calls a function of the pack, or reads a rule of the pack.
Field paths (``c.path``, ``input.proposal.preview``) count as defined: the engines check the
input's shape first (policies/validate.py), and the corpus covers the optional fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import regorus

from core.kernel.jsontypes import Json, JsonObject
from policies.loader import PolicySources
from policies.schema import BOOLEAN_FIELDS

__all__ = ["VmHazard", "check_sources"]


@dataclass(frozen=True)
class VmHazard:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _line(node: Any) -> int:
    if isinstance(node, dict):
        span = node.get("span")
        if isinstance(span, dict) and "line" in span:
            return int(span["line"])
        for value in node.values():
            found = _line(value)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = _line(value)
            if found:
                return found
    return 0


def _kind(node: Any) -> tuple[str, Any]:
    """``(variant, payload)`` of a serde-tagged AST node (``{"Var": {...}}``)."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, value),) = node.items()
        return key, value
    return "", node


_COMPREHENSIONS = {"ArrayCompr", "SetCompr", "ObjectCompr"}


def _vars(node: Any, *, skip_comprehensions: bool) -> Iterator[str]:
    """Every variable name in an expression (optionally not looking inside comprehensions)."""
    kind, value = _kind(node)
    if kind == "Var" and isinstance(value, dict):
        yield str(value.get("value"))
        return
    if skip_comprehensions and kind in _COMPREHENSIONS:
        return
    if isinstance(node, dict):
        for key, child in node.items():
            if key not in ("span", "eidx"):
                yield from _vars(child, skip_comprehensions=skip_comprehensions)
    elif isinstance(node, list):
        for child in node:
            yield from _vars(child, skip_comprehensions=skip_comprehensions)


class _Module:
    def __init__(self, file: str, ast: dict[str, Any], pack: _Pack) -> None:
        self.file = file
        self.ast = ast
        self.pack = pack
        self.package = ".".join(_ref_path(ast.get("package", {}).get("refr")) or [])
        self.rule_names: set[str] = set()
        self.established: set[str] = set()  # refs a positive condition of the current body read
        for rule in ast.get("rules", []):
            name = _rule_name(rule)
            if name:
                self.rule_names.add(name)
                pack.definitions.setdefault(f"{self.package}.{name}", []).append((rule, self))


class _Pack:
    """Every rule of the pack by ``package.name``, and which of them are *total*: defined whenever
    the input has its schema (an unconditional definition, or an ``else`` without condition, whose
    value cannot be undefined)."""

    def __init__(self) -> None:
        self.definitions: dict[str, list[tuple[Any, _Module]]] = {}
        self._total: dict[str, bool] = {}

    def boolean(self, name: str) -> bool:
        """A rule or function whose every definition is ``name if ...`` / ``f(x) if ...``: its
        value is true or undefined."""
        found = self.definitions.get(name, [])
        return bool(found) and all(_boolean_head(rule) for rule, _ in found)

    def total(self, name: str) -> bool:
        if name not in self._total:
            self._total[name] = False  # no recursion in Rego; a guard all the same
            self._total[name] = any(_unconditional(rule, module) for rule, module in self.definitions.get(name, []))
        return self._total[name]


def _unconditional(rule: Any, module: _Module) -> bool:
    _, spec = _kind(rule)
    head_kind, head = _kind(spec.get("head"))
    bodies = spec.get("bodies", [])
    if head_kind == "Set":
        return True  # a partial set is the empty set at worst
    value = (head.get("assign") or {}).get("value") if isinstance(head, dict) else None
    if not bodies:
        return value is not None and not _may_be_undefined(value, module, set())
    last = bodies[-1]
    if len(bodies) > 1 and not (last.get("query") or {}).get("stmts"):
        assigned = (last.get("assign") or {}).get("value")
        return assigned is not None and not _may_be_undefined(assigned, module, set())
    return False


def _boolean_head(rule: Any) -> bool:
    _, spec = _kind(rule)
    head_kind, head = _kind(spec.get("head"))
    if head_kind not in ("Compr", "Func") or not isinstance(head, dict):
        return False
    value = (head.get("assign") or {}).get("value")
    if value is None:
        return True
    vk, vv = _kind(value)
    return vk == "Bool" and vv.get("value") is True


def _ref_path(ref: Any) -> list[str] | None:
    """``["gateward", "lib", "x"]`` for ``gateward.lib.x``; None when it is not a plain dotted path."""
    kind, value = _kind(ref)
    if kind == "Var":
        return [str(value.get("value"))]
    if kind == "RefDot":
        base = _ref_path(value.get("refr"))
        return None if base is None else [*base, str(value.get("field", ["", ""])[1])]
    return None


def _rule_name(rule: Any) -> str | None:
    kind, spec = _kind(rule)
    if kind != "Spec":
        return None
    head_kind, head = _kind(spec.get("head"))
    ref = head.get("refr") if isinstance(head, dict) else None
    if head_kind == "Func":
        ref = head.get("refr")
    while True:
        rk, rv = _kind(ref)
        if rk == "Var":
            return str(rv.get("value"))
        if rk in ("RefDot", "RefBrack"):
            ref = rv.get("refr")
            continue
        return None


def _may_be_undefined(expr: Any, module: _Module, local: set[str]) -> bool:
    """True when ``expr`` can evaluate to undefined beyond a missing schema field."""
    kind, value = _kind(expr)
    if kind in _COMPREHENSIONS:
        return False  # a comprehension is always defined (an empty collection at worst)
    path = _ref_path(expr)
    if path and ".".join(path) in module.established:
        return False
    if kind == "Var":
        name = str(value.get("value"))
        if name in local or name not in module.rule_names:
            return False
        return not module.pack.total(f"{module.package}.{name}")
    if kind == "RefBrack":
        index_kind, _ = _kind(value.get("index"))
        if index_kind not in ("String", "Number", "Bool", "Null"):
            return True
        return _may_be_undefined(value.get("refr"), module, local)
    if kind == "RefDot":
        path = _ref_path(expr)
        if path and path[0] == "data":
            # data.gateward.data.*: data files; data.gateward.<package>.<rule>[.field]: a rule.
            if len(path) >= 3 and path[1] == "gateward" and path[2] != "data":
                for cut in range(len(path), 2, -1):
                    name = ".".join(path[1:cut])
                    if name in module.pack.definitions:
                        return not module.pack.total(name)
                return True
            return False
        return _may_be_undefined(value.get("refr"), module, local)
    if kind == "Call":
        fcn = _ref_path(value.get("fcn")) or []
        params = value.get("params", [])
        if fcn and fcn[0] == "data":
            name = ".".join(fcn[1:])
            if name not in module.pack.definitions or not module.pack.total(name):
                return True
        elif fcn and fcn[0] in module.rule_names and not module.pack.total(f"{module.package}.{fcn[0]}"):
            return True
        return any(_may_be_undefined(p, module, local) for p in params)
    if isinstance(value, dict):
        return any(
            _may_be_undefined(child, module, local)
            for key, child in value.items()
            if key not in ("span", "eidx") and isinstance(child, dict | list)
        )
    if isinstance(value, list):
        return any(_may_be_undefined(child, module, local) for child in value)
    return False


_PREDICATES = {"is_object", "is_array", "is_set", "is_string", "is_number", "is_boolean", "is_null",
               "startswith", "endswith", "contains", "regex.match", "glob.match"}


def _boolean(expr: Any, module: _Module, local: set[str]) -> bool:
    """``expr`` is true, false or undefined (never another value), so ``not expr`` is safe."""
    kind, value = _kind(expr)
    if kind in ("BoolExpr", "Membership"):
        return True
    if kind == "Call":
        fcn = _ref_path(value.get("fcn")) or []
        name = ".".join(fcn)
        if name in _PREDICATES:
            return True
        qualified = ".".join(fcn[1:]) if fcn[:1] == ["data"] else f"{module.package}.{name}"
        return module.pack.boolean(qualified)
    path = _ref_path(expr)
    if not path:
        return False
    if path[0] == "input":
        return path[-1] in BOOLEAN_FIELDS
    if path[0] == "data":
        return module.pack.boolean(".".join(path[1:]))
    if path[0] in local:
        return len(path) > 1 and path[-1] in BOOLEAN_FIELDS
    return len(path) == 1 and module.pack.boolean(f"{module.package}.{path[0]}")


def _stmt_literal(stmt: Mapping[str, Json]) -> tuple[str, Any]:
    return _kind(stmt.get("literal"))


def _positive_refs(expr: Any) -> Iterator[str]:
    """Dotted paths (``entry``, ``data.gateward.rbac.entry``) that a positive condition reads: once
    it held, they are defined for the rest of the body."""
    kind, value = _kind(expr)
    if kind in _COMPREHENSIONS:
        return
    path = _ref_path(expr)
    if path:
        yield ".".join(path)
    if isinstance(value, dict):
        for key, child in value.items():
            if key not in ("span", "eidx") and isinstance(child, dict | list):
                yield from _positive_refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from _positive_refs(child)


def _check_terms(terms: list[Any], module: _Module, local: set[str], out: list[VmHazard]) -> None:
    for term in terms:
        if _may_be_undefined(term, module, local):
            out.append(VmHazard(module.file, _line(term), "a comprehension term that may be undefined becomes an "
                                                          "\"<undefined>\" element in the regorus 0.9.1 VM (the "
                                                          "interpreter drops it); bind it first and test it"))


def _check_query(query: dict[str, Any], module: _Module, bound: set[str], out: list[VmHazard]) -> set[str]:
    stmts: list[dict[str, Any]] = list(query.get("stmts", []))
    local = set(bound)
    # Pass 1: which variables each statement binds, and its positive uses.
    for i, stmt in enumerate(stmts):
        kind, lit = _stmt_literal(stmt)
        if kind == "NotExpr" and not _boolean(lit.get("expr"), module, local):
            out.append(VmHazard(module.file, _line(stmt), "`not` of a value that may not be a boolean ends the rule "
                                                          "in the regorus 0.9.1 VM; test it with a predicate "
                                                          "(`not is_object(x[k])`, `x == false`)"))
        if kind == "Every":
            out.append(VmHazard(module.file, _line(stmt), "`every` is always true in the regorus 0.9.1 VM; "
                                                          "write the negation (`not any_bad`) instead"))
        if kind == "SomeIn":
            for part in ("key", "value"):
                local.update(_vars(lit.get(part), skip_comprehensions=True))
        elif kind == "SomeVars":
            local.update(str(v[1]) if isinstance(v, list) else str(v) for v in lit.get("vars", []))
        elif kind == "Expr":
            ek, ev = _kind(lit.get("expr"))
            if ek == "AssignExpr" and ev.get("op") == "ColEq":
                targets = set(_vars(ev.get("lhs"), skip_comprehensions=True))
                if _may_be_undefined(ev.get("rhs"), module, local) and not _settled(targets, stmts[i + 1:]):
                    out.append(VmHazard(
                        module.file, _line(stmt),
                        f"`{', '.join(sorted(targets))} := ...` may be undefined and is never used afterwards in a "
                        "positive condition: the regorus VM would carry on with it undefined (test it first, e.g. "
                        "`x[y]` as a condition, or compare it)",
                    ))
                local.update(targets)
            else:
                # A positive condition that held: what it read is defined from here on.
                for ref in _positive_refs(lit.get("expr")):
                    module.established.add(ref)
        # Nested queries: comprehensions, every bodies.
        for nested, nested_bound, terms in _nested_queries(lit):
            outer = set(module.established)
            inner = _check_query(nested, module, local | nested_bound, out)
            _check_terms(terms, module, inner, out)
            module.established = outer  # what held inside a comprehension says nothing outside
    return local


def _settled(targets: set[str], rest: list[dict[str, Any]]) -> bool:
    """Some target (or a variable assigned from one) is used in a later positive condition."""
    tainted = set(targets)
    for stmt in rest:
        kind, lit = _stmt_literal(stmt)
        if kind == "SomeIn":
            if tainted & set(_vars(lit.get("collection"), skip_comprehensions=True)):
                return True
            continue
        if kind != "Expr":
            continue  # NotExpr, Every, SomeVars: not a positive use
        ek, ev = _kind(lit.get("expr"))
        if ek == "AssignExpr" and ev.get("op") == "ColEq":
            if tainted & set(_vars(ev.get("rhs"), skip_comprehensions=True)):
                tainted |= set(_vars(ev.get("lhs"), skip_comprehensions=True))
            continue
        if tainted & set(_vars(lit.get("expr"), skip_comprehensions=True)):
            return True
    return False


def _nested_queries(node: Any) -> Iterator[tuple[JsonObject, set[str], list[Any]]]:
    """``(query, variables it starts with, the terms it yields)`` for every comprehension and
    ``every`` below ``node`` (not looking inside them: _check_query does)."""
    kind, value = _kind(node)
    if kind in _COMPREHENSIONS and isinstance(value, dict):
        terms = [value[k] for k in ("term", "key", "value") if value.get(k) is not None]
        yield value["query"], set(), terms
        return
    if kind == "Every" and isinstance(value, dict):
        bound = set(_vars(value.get("key"), skip_comprehensions=True)) | set(
            _vars(value.get("value"), skip_comprehensions=True))
        yield value["query"], bound, []
        return
    if isinstance(node, dict):
        for key, child in node.items():
            if key not in ("span", "eidx"):
                yield from _nested_queries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _nested_queries(child)


def _check_rule(rule: Any, module: _Module, out: list[VmHazard]) -> None:
    kind, spec = _kind(rule)
    if kind != "Spec":
        return
    head_kind, head = _kind(spec.get("head"))
    params: set[str] = set()
    if head_kind == "Func":
        params = set(_vars(head.get("args"), skip_comprehensions=True))
    # Comprehensions in the head (x := [... | ...]) have queries of their own.
    for nested, bound, terms in _nested_queries(spec.get("head")):
        module.established = set()
        _check_terms(terms, module, _check_query(nested, module, params | bound, out), out)
    for body in spec.get("bodies", []):
        module.established = set()
        if body.get("query"):
            _check_query(body["query"], module, params, out)
        for nested, bound, terms in _nested_queries(body.get("assign")):
            _check_terms(terms, module, _check_query(nested, module, params | bound, out), out)


def check_sources(sources: PolicySources) -> list[VmHazard]:
    """Every construct of the non-test rule files that the regorus 0.9.1 VM would decide
    differently from Rego; empty for a pack the VM may evaluate."""
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    for name, text in sources.rules:
        engine.add_policy(name, text)
    pack = _Pack()
    modules = [_Module(str(entry["source"]["file"]), entry["ast"], pack)
               for entry in orjson.loads(engine.get_ast_as_json())]
    hazards: list[VmHazard] = []
    for module in modules:
        for rule in module.ast.get("rules", []):
            _check_rule(rule, module, hazards)
    return sorted(set(hazards), key=lambda h: (h.file, h.line, h.message))
