"""Which rules dbt already tests, so that Great Expectations does not test them a second time.

Reads the YAML property files of the dbt project (sources and models) and returns the set of
``(relation, column, kind)`` that dbt covers: generic tests ``not_null``, ``unique``, ``accepted_values``
and enforced ``not_null``/``unique`` column constraints of a model contract. The project's own
``outflow_unique_written`` (unique, checked on a daily build against the rows the run wrote) and
``outflow_unique_since`` (a raw table's key, checked on a daily build for the rows its staging reads again) count as
``unique``.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

KINDS = {"not_null", "unique", "accepted_values"}
# the project's generic tests that check one of KINDS (macros/outflow_written_keys.sql)
SAME_KIND = {"outflow_unique_written": "unique", "outflow_unique_since": "unique"}

# staging models that are 1:1 projections of a raw table: a test on one of their columns covers the
# raw column of the same name (the rule is checked once, on the normalized value)
STAGING_OF = {
    "stg_crm__contacts": "raw.crm_contacts",
    "stg_web__events": "raw.web_events",
    "stg_email__events": "raw.email_events",
    "stg_shop__orders": "raw.orders",
    "stg_consent__events": "raw.consent_events",
    "stg_privacy__erasure_requests": "raw.erasure_requests",
}
_VAR_DEFAULT = re.compile(r"""var\(\s*['"][^'"]+['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")


def _schema(value: object, fallback: str) -> str:
    """A source's schema; ``{{ var('raw_schema', 'raw') }}`` resolves to the var's default."""
    text = str(value or fallback)
    if "{{" in text:
        m = _VAR_DEFAULT.search(text)
        return m.group(1) if m else fallback
    return text


def _default_project_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "dbt_project"


def _test_kinds(items: Any) -> set[str]:
    kinds: set[str] = set()
    for item in items or []:
        name = item if isinstance(item, str) else next(iter(item), None) if isinstance(item, dict) else None
        if isinstance(name, str):
            name = name.split(".")[-1]  # dbt.not_null / dbt_utils.x
            name = SAME_KIND.get(name, name)
            if name in KINDS:
                kinds.add(name)
    return kinds


def _column_rules(relation: str, cols: Any) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for col in cols or []:
        if not isinstance(col, dict) or "name" not in col:
            continue
        kinds = _test_kinds(col.get("data_tests")) | _test_kinds(col.get("tests"))
        for c in col.get("constraints") or []:
            if isinstance(c, dict) and c.get("type") in ("not_null", "unique"):
                kinds.add(c["type"])
        out |= {(relation, str(col["name"]), k) for k in kinds}
    return out


@lru_cache(maxsize=4)
def _property_files(root: Path) -> tuple[tuple[Path, Any], ...]:
    """Each YAML property file of the project's models, parsed once (``None``: not valid YAML)."""
    if not root.is_dir():
        return ()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = []
    for path in sorted([*root.glob("models/**/*.yml"), *root.glob("models/**/*.yaml")]):
        try:
            out.append((path, yaml.load(path.read_text(), Loader=loader) or {}))  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            out.append((path, None))
    return tuple(out)


@lru_cache(maxsize=4)
def dbt_rules(project_dir: Path | None = None) -> frozenset[tuple[str, str, str]]:
    """``(relation, column, kind)`` tested by dbt; relations as ``schema.name`` (models in ``main``)."""
    root = project_dir or _default_project_dir()
    rules: set[tuple[str, str, str]] = set()
    for path, doc in _property_files(root):
        if doc is None:
            log.warning("%s: not valid YAML, its dbt tests are not counted", path)
            continue
        if not isinstance(doc, dict):
            continue
        for src in doc.get("sources") or []:
            if not isinstance(src, dict):
                continue
            schema = _schema(src.get("schema"), str(src.get("name")))
            for tbl in src.get("tables") or []:
                if isinstance(tbl, dict) and "name" in tbl:
                    relation = f"{schema}.{tbl.get('identifier') or tbl['name']}"
                    rules |= _column_rules(relation, tbl.get("columns"))
        for model in doc.get("models") or []:
            if isinstance(model, dict) and "name" in model:
                rules |= _column_rules(f"main.{model['name']}", model.get("columns"))
                if model["name"] in STAGING_OF:
                    rules |= _column_rules(STAGING_OF[model["name"]], model.get("columns"))
    return frozenset(rules)


@lru_cache(maxsize=4)
def model_meta(project_dir: Path | None = None) -> dict[str, dict[str, object]]:
    """Model name -> its dbt ``meta`` (top level or under ``config``), e.g. an audience's channel/purpose."""
    root = project_dir or _default_project_dir()
    out: dict[str, dict[str, object]] = {}
    for _, doc in _property_files(root):
        for model in (doc.get("models") or []) if isinstance(doc, dict) else []:
            if isinstance(model, dict) and "name" in model:
                meta = {**((model.get("config") or {}).get("meta") or {}), **(model.get("meta") or {})}
                if meta:
                    out[str(model["name"])] = meta
    return out
