"""Validate request bodies against a vendor's own OpenAPI document (kept outside the repository).

The documents live in ``../shared/vendor-specs`` relative to the repository root (env
``OUTFLOW_VENDOR_SPECS`` overrides). They are the vendors' words: loaded, never copied or edited.
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


def specs_dir() -> Path:
    value = os.environ.get("OUTFLOW_VENDOR_SPECS")
    return Path(value) if value else (REPO_ROOT.parent / "shared" / "vendor-specs").resolve()


class SpecMissing(RuntimeError):
    """The vendor's spec file is not available on this machine."""


@functools.cache
def _registry(relpath: str) -> tuple[Registry, str]:
    path = specs_dir() / relpath
    if not path.exists():
        raise SpecMissing(f"vendor spec {path} not found (set OUTFLOW_VENDOR_SPECS)")
    doc = json.loads(path.read_text())
    uri = f"urn:outflow-spec:{relpath}"
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    return Registry().with_resource(uri, resource), uri


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@functools.cache
def request_validator(relpath: str, path: str, method: str) -> Draft202012Validator:
    """A validator for the JSON request body of ``method path`` in the spec file ``relpath``."""
    registry, uri = _registry(relpath)
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


def operation_extension(relpath: str, path: str, method: str, name: str) -> Any:
    """A vendor extension of one operation (e.g. Klaviyo's ``x-klaviyo-ratelimit``), or None."""
    registry, uri = _registry(relpath)
    doc = registry.contents(uri)
    return ((doc.get("paths") or {}).get(path) or {}).get(method.lower(), {}).get(name)
