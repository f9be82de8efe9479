"""Validate request bodies against a vendor's own machine-readable contract: an OpenAPI 3 or Swagger 2.0
document, a Google API discovery document, or a node of Meta's SDK code-generation specs.

A document is looked up first in the local vendor-specs folder, ``../shared/vendor-specs`` relative to the
repository root (env ``OUTFLOW_VENDOR_SPECS`` overrides), then among the documents whose licence lets them ship
with the project (``tests/data/vendor-specs``, each with a README naming its source and licence). A vendor whose
document may not be redistributed is validated only when a user points ``OUTFLOW_VENDOR_SPECS`` at a local copy
(see docs/destinations.md).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "tests" / "data" / "vendor-specs"


def specs_dir() -> Path:
    value = os.environ.get("OUTFLOW_VENDOR_SPECS")
    return Path(value) if value else (REPO_ROOT.parent / "shared" / "vendor-specs").resolve()


class SpecMissing(RuntimeError):
    """The vendor's spec file is not available on this machine."""


def spec_path(relpath: str) -> Path | None:
    """Where the document ``relpath`` (e.g. ``hubspot/contacts.json``) is found: the local vendor-specs folder,
    else the documents committed with the project; None when neither holds it."""
    for root in (specs_dir(), COMMITTED):
        if (root / relpath).is_file():
            return root / relpath
    return None


def have_spec(relpath: str) -> bool:
    return spec_path(relpath) is not None


@functools.cache
def _load(relpath: str) -> Any:
    path = spec_path(relpath)
    if path is None:
        raise SpecMissing(f"vendor spec {specs_dir() / relpath} not found (set OUTFLOW_VENDOR_SPECS)")
    return json.loads(path.read_text())


@functools.cache
def _registry(relpath: str) -> tuple[Registry, str]:
    doc = _load(relpath)
    uri = f"urn:outflow-spec:{relpath}"
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    return Registry().with_resource(uri, resource), uri


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@functools.cache
def request_validator(relpath: str, path: str, method: str) -> Draft202012Validator:
    """A validator for the JSON request body of ``method path`` in the spec file ``relpath`` (OpenAPI 3, or
    Swagger 2.0 where the body is the ``in: body`` parameter)."""
    registry, uri = _registry(relpath)
    doc = registry.contents(uri)
    if str(doc.get("swagger", "")).startswith("2"):
        params = doc["paths"][path][method.lower()].get("parameters") or []
        i = next((i for i, p in enumerate(params) if p.get("in") == "body"), None)
        if i is None:
            raise SpecMissing(f"{relpath}: {method.upper()} {path} takes no body")
        ptr = _pointer("paths", path, method.lower(), "parameters", str(i), "schema")
        return Draft202012Validator({"$ref": f"{uri}#/{ptr}"}, registry=registry)
    ptr = _pointer("paths", path, method.lower(), "requestBody", "content", "application/json", "schema")
    return Draft202012Validator({"$ref": f"{uri}#/{ptr}"}, registry=registry)


@functools.cache
def request_validator_ct(relpath: str, path: str, method: str, content_type: str) -> Draft202012Validator:
    registry, uri = _registry(relpath)
    ptr = _pointer("paths", path, method.lower(), "requestBody", "content", content_type, "schema")
    return Draft202012Validator({"$ref": f"{uri}#/{ptr}"}, registry=registry)


def errors(validator: Draft202012Validator, body: Any, limit: int = 5) -> list[str]:
    """Human-readable schema violations: ``contacts.3.email: 'x' is too long``."""
    out = []
    for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in e.absolute_path) or "(body)"
        out.append(f"{where}: {e.message[:200]}")
        if len(out) >= limit:
            break
    return out


@functools.cache
def response_validator(
    relpath: str, path: str, method: str, status: str = "200", content_type: str = "application/json"
) -> Draft202012Validator:
    """A validator for the JSON body the vendor documents for ``status`` of ``method path`` (the sandboxes'
    own answers are checked against it in the tests)."""
    registry, uri = _registry(relpath)
    ptr = _pointer("paths", path, method.lower(), "responses", status, "content", content_type, "schema")
    return Draft202012Validator({"$ref": f"{uri}#/{ptr}"}, registry=registry)


def spec_paths(relpath: str) -> set[str]:
    """The path templates a document defines (to find an operation whose documented prefix varies, e.g. a
    server URL that carries ``/api``)."""
    return set(_load(relpath).get("paths") or {})


def operation_extension(relpath: str, path: str, method: str, name: str) -> Any:
    """A vendor extension of one operation (e.g. Klaviyo's ``x-klaviyo-ratelimit``), or None."""
    registry, uri = _registry(relpath)
    doc = registry.contents(uri)
    return ((doc.get("paths") or {}).get(path) or {}).get(method.lower(), {}).get(name)


# --- Google API discovery documents ------------------------------------------------------------------------
def _from_discovery(schema: dict[str, Any]) -> dict[str, Any]:
    """One discovery schema as JSON Schema. Google's JSON mapping refuses a field the message does not define
    ("Invalid JSON payload received. Unknown name ..."), so objects with declared properties allow no others."""
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    out: dict[str, Any] = {}
    if schema.get("type") not in (None, "any"):
        out["type"] = schema["type"]
    if "enum" in schema:
        out["enum"] = schema["enum"]
    if "items" in schema:
        out["items"] = _from_discovery(schema["items"])
    if "properties" in schema:
        out["properties"] = {k: _from_discovery(v) for k, v in schema["properties"].items()}
        out["additionalProperties"] = False
    if "additionalProperties" in schema:
        out["additionalProperties"] = _from_discovery(schema["additionalProperties"])
    return out


def _discovery_method(resources: dict[str, Any], method_id: str) -> dict[str, Any] | None:
    for res in resources.values():
        for m in (res.get("methods") or {}).values():
            if m.get("id") == method_id:
                return m
        if found := _discovery_method(res.get("resources") or {}, method_id):
            return found
    return None


@functools.cache
def discovery_validator(relpath: str, method_id: str, part: str = "request") -> Draft202012Validator:
    """A validator for the ``request`` (or ``response``) body of the method ``method_id`` (e.g.
    ``datamanager.audienceMembers.ingest``) in the Google discovery document ``relpath``."""
    doc = _load(relpath)
    method = _discovery_method(doc.get("resources") or {}, method_id)
    if method is None or part not in method:
        raise SpecMissing(f"{relpath} defines no {part} for {method_id}")
    defs = {name: _from_discovery(s) for name, s in (doc.get("schemas") or {}).items()}
    return Draft202012Validator({"$defs": defs, **_from_discovery(method[part])})


# --- Meta's SDK code-generation specs (facebook-business-sdk-codegen, api_specs/specs/<Node>.json) ----------
_GRAPH_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "bool": bool, "int": int, "unsigned int": int, "float": (int, float), "Object": dict,
    "map": dict, "datetime": (str, int),
}  # fmt: skip
GRAPH_COMMON = frozenset({"access_token", "appsecret_proof", "method", "format", "suppress_http_code"})


def graph_edge_errors(relpath: str, method: str, endpoint: str, params: dict[str, Any]) -> list[str]:
    """Violations of the parameters Meta's spec node ``relpath`` lists for ``method /{id}/{endpoint}``: a
    parameter it does not list (the Graph API's common ones aside), a required one missing, a value of another
    type (JSON-valued parameters given decoded)."""
    doc = _load(relpath)
    apis = [a for a in doc.get("apis") or [] if (a.get("method"), a.get("endpoint")) == (method.upper(), endpoint)]
    api = apis[0] if apis else None
    if api is None:
        raise SpecMissing(f"{relpath} lists no {method.upper()} {endpoint}")
    listed = {p["name"]: p for p in api.get("params") or []}
    out = [
        f"{n}: not a parameter of {method.upper()} /{endpoint}"
        for n in params
        if n not in listed | dict.fromkeys(GRAPH_COMMON)
    ]
    out += [f"{n}: required" for n, p in listed.items() if p.get("required") and n not in params]
    for n, v in params.items():
        t = str(listed.get(n, {}).get("type", ""))
        want = list if t.startswith("list<") else _GRAPH_TYPES.get(t)
        if want is not None and (not isinstance(v, want) or (want is int and isinstance(v, bool))):
            out.append(f"{n}: {v!r:.60} is not of type '{t}'")
    return out
