"""Checks requests and responses against GitHub's official OpenAPI description.

The description (@octokit/openapi, generated/api.github.com.json, ~13 MB) is parsed once per
process. Validators are built lazily per operation and cached, each one a Draft 4 validator
pointing into the whole document, so ``$ref``s resolve against it and only the schemas a test
touches are ever compiled. OpenAPI 3.0's ``nullable`` is rewritten into JSON Schema once, at load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DOC_URI = "urn:github-openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "/" + "/".join(_escape(t) for t in tokens)


def _denullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 `nullable: true` as JSON Schema, depth first, in place."""
    if isinstance(node, list):
        for item in node:
            _denullable(item)
        return node
    if not isinstance(node, dict):
        return node
    for value in node.values():
        _denullable(value)
    if node.pop("nullable", False) is True:
        combined = any(k in node for k in ("$ref", "allOf", "anyOf", "oneOf"))
        if combined or "type" not in node:
            # draft 4 ignores siblings of $ref, so wrap instead of adding "null" to a type
            inner = dict(node)
            node.clear()
            node["anyOf"] = [{"type": "null"}, inner]
        else:
            kind = node["type"]
            node["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
    return node


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    template: str
    pointer: str  # to the operation object in the document


@dataclass
class _Param:
    name: str
    location: str
    required: bool
    pointer: str  # to its schema
    kind: str | None  # the schema's type, to turn the URL's strings into values


@dataclass
class _Compiled:
    params: dict[tuple[str, str], _Param] = field(default_factory=dict)
    body_pointer: str | None = None
    body_required: bool = False


class OpenAPI:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _denullable(document)
        self.version = str(document.get("info", {}).get("version", "?"))
        resource = Resource(contents=self.document, specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self._validators: dict[str, jsonschema.Draft4Validator] = {}
        self._compiled: dict[Operation, _Compiled] = {}
        self._index: dict[str, list[tuple[re.Pattern[str], int, Operation]]] = {}
        for template, item in self.document["paths"].items():
            for method, op in item.items():
                if method not in METHODS:
                    continue
                operation = Operation(op["operationId"], method.upper(), template,
                                      _pointer("paths", template, method))
                multi = {p["name"] for p in self._parameters(op) if p.get("x-multi-segment")}
                pattern = re.sub(
                    r"\{(\w+)\}",
                    lambda m, multi=multi: f"(?P<{m.group(1)}>{'.*' if m.group(1) in multi else '[^/]+'})",
                    re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
                )
                literal = len(re.sub(r"\{\w+\}", "", template))
                self._index.setdefault(method.upper(), []).append(
                    (re.compile(f"^{pattern}$"), literal, operation))

    @classmethod
    def load(cls, path: Path) -> OpenAPI:
        return _load(str(path.resolve()))

    # -- lookup ----------------------------------------------------------------------------
    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and node["$ref"].startswith("#/"):
            target: Any = self.document
            for token in node["$ref"][2:].split("/"):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _parameters(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._resolve(p) for p in op.get("parameters", [])]

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.lstrip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        best: tuple[int, Operation, dict[str, str]] | None = None
        for regex, literal, op in self._index.get(method.upper(), []):
            found = regex.match(path)
            if found and (best is None or literal > best[0]):
                best = (literal, op, found.groupdict())
        return (best[1], best[2]) if best else None

    def validator(self, pointer: str) -> jsonschema.Draft4Validator:
        if pointer not in self._validators:
            ref = {"$ref": DOC_URI + "#" + quote(pointer, safe="/~")}
            self._validators[pointer] = jsonschema.Draft4Validator(ref, registry=self._registry)
        return self._validators[pointer]

    def errors(self, pointer: str, instance: Any, where: str) -> list[str]:
        found = []
        for err in self.validator(pointer).iter_errors(instance):
            at = "/".join(str(p) for p in err.absolute_path)
            found.append(f"{where}{'/' + at if at else ''}: {err.message[:300]}")
        return found

    def schema_errors(self, name: str, instance: Any) -> list[str]:
        """Validate against components/schemas/NAME (used to test the fake's builders)."""
        return self.errors(_pointer("components", "schemas", name), instance, name)

    # -- requests --------------------------------------------------------------------------
    def _compile(self, op: Operation) -> _Compiled:
        if op in self._compiled:
            return self._compiled[op]
        raw = self._at(op.pointer)
        out = _Compiled()
        for i, ref in enumerate(raw.get("parameters", [])):
            if "$ref" in ref:
                pointer = ref["$ref"][1:] + "/schema"
            else:
                pointer = op.pointer + f"/parameters/{i}/schema"
            param = self._resolve(ref)
            schema = self._resolve(param.get("schema", {}))
            kind = schema.get("type")
            out.params[(param["in"], param["name"])] = _Param(
                param["name"], param["in"], bool(param.get("required")), pointer,
                kind[0] if isinstance(kind, list) else kind)
        body = raw.get("requestBody")
        if body is not None:
            body_obj = self._resolve(body)
            if "application/json" in body_obj.get("content", {}):
                base = (body["$ref"][1:] if "$ref" in body else op.pointer + "/requestBody")
                out.body_pointer = base + "/content/application~1json/schema"
            out.body_required = bool(body_obj.get("required"))
        self._compiled[op] = out
        return out

    def check_request(self, method: str, path: str, query: dict[str, str], body: Any,
                      has_body: bool) -> tuple[Operation | None, list[str]]:
        found = self.match(method, path)
        if found is None:
            return None, [f"{method} {path}: no such operation in GitHub's REST API"]
        op, path_values = found
        spec = self._compile(op)
        problems: list[str] = []
        for name, raw in path_values.items():
            param = spec.params.get(("path", name))
            if param is not None:
                problems += self.errors(param.pointer, _coerce(raw, param.kind), f"path {name}")
        for name, raw in query.items():
            param = spec.params.get(("query", name))
            if param is None:
                problems.append(f"query {name}: not a parameter of {op.operation_id}")
            else:
                problems += self.errors(param.pointer, _coerce(raw, param.kind), f"query {name}")
        for (where, name), param in spec.params.items():
            if where == "query" and param.required and name not in query:
                problems.append(f"query {name}: required")
        if spec.body_pointer is None:
            if has_body and body not in (None, {}):
                problems.append(f"body: {op.operation_id} takes no JSON body")
        elif not has_body:
            if spec.body_required:
                problems.append("body: required")
        else:
            problems += self.errors(spec.body_pointer, body, "body")
        return op, problems

    # -- responses -------------------------------------------------------------------------
    def check_response(self, op: Operation, status: int, body: Any,
                       is_json: bool) -> list[str] | None:
        """Problems with a response; None when the description has no schema to check."""
        responses = self._at(op.pointer).get("responses", {})
        declared = responses.get(str(status))
        if declared is None:
            if 200 <= status < 400:  # a success or a redirect the description does not list
                return [f"status {status} is not a response of {op.operation_id}"]
            return None
        base = (declared["$ref"][1:] if "$ref" in declared
                else op.pointer + f"/responses/{status}")
        content = self._resolve(declared).get("content", {})
        if not is_json:
            return None
        if "application/json" not in content:
            if body is None or 300 <= status:
                return None
            return [f"status {status} of {op.operation_id} has no JSON body"]
        return self.errors(base + "/content/application~1json/schema", body,
                           f"response {status}")


def _coerce(raw: str, kind: str | None) -> Any:
    """The URL carries strings; the description types them."""
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind == "array":
        return raw.split(",")
    return raw


@cache
def _load(path: str) -> OpenAPI:
    with open(path, "rb") as handle:
        return OpenAPI(json.load(handle))
