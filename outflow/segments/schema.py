"""The fields a segment may use, and their types.

The set of known columns comes from the dbt project itself, so a column added to a model is picked up
without touching this package:

1. the model YAML files under ``dbt_project/models`` (the declared columns and data types), then
2. ``dbt_project/target/manifest.json`` for models declared elsewhere, then
3. the foundation contract below, for models that declare no columns anywhere.

Score models (e.g. ``fct_lead_scores``) are optional: their columns are usable only once the model exists.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from outflow.settings import dbt_target_dir

log = logging.getLogger(__name__)

# Generic types the compiler reasons about.
STRING, NUMBER, BOOLEAN, DATE, TIMESTAMP, UNKNOWN = (
    "string",
    "number",
    "boolean",
    "date",
    "timestamp",
    "unknown",
)

_S, _N, _B, _D, _T = STRING, NUMBER, BOOLEAN, DATE, TIMESTAMP

#: The foundation contract (see the helper brief / DESIGN.md), used when a model declares no columns.
CONTRACT: dict[str, dict[str, str]] = {
    "dim_profiles": {
        "person_id": _S,
        "email": _S,
        "email_canonical": _S,
        "phone": _S,
        "first_name": _S,
        "last_name": _S,
        "company": _S,
        "job_title": _S,
        "industry": _S,
        "employee_count": _N,
        "country": _S,
        "city": _S,
        "state": _S,
        "postal_code": _S,
        "gender": _S,
        "birth_date": _D,
        "crm_id": _S,
        "user_id": _S,
        "identifier_count": _N,
        "is_known": _B,
        "first_seen_at": _T,
        "last_seen_at": _T,
    },
    "dim_profile_traits": {
        "person_id": _S,
        "first_seen_at": _T,
        "last_seen_at": _T,
        "days_since_last_seen": _N,
        "web_events_30d": _N,
        "pricing_views_30d": _N,
        "order_count": _N,
        "total_revenue": _N,
        "first_order_at": _T,
        "last_order_at": _T,
        "days_since_last_order": _N,
        "email_opens_30d": _N,
        "email_clicks_30d": _N,
        "lifecycle_stage": _S,
    },
    "fct_events": {
        "event_id": _S,
        "person_id": _S,
        "source": _S,
        "event_type": _S,
        "occurred_at": _T,
        "page_path": _S,
        "campaign_id": _S,
        "amount": _N,
    },
    # The predictive lead score table written by models_ml (a dbt source, see SOURCES below).
    "ml_lead_scores": {
        "person_id": _S,
        "score": _N,
        "decile": _N,
        "reason_codes": _S,
        "model_version": _S,
        "scored_at": _T,
    },
}

#: Per-person models a segment can filter on, in name-resolution order, with their SQL alias.
PERSON_SOURCES: tuple[tuple[str, str, bool], ...] = (
    # (model, alias, required)
    ("dim_profiles", "p", True),
    ("dim_profile_traits", "t", True),
    ("fct_rfm_scores", "r", False),
    ("fct_lead_scores", "s", False),
    ("ml_lead_scores", "m", False),
)
EVENT_SOURCE = "fct_events"

#: Person tables that are dbt *sources*, not models: name -> (source name, table name, the model that
#: creates the table when it does not exist yet). A generated segment reads them with ``source()`` and
#: declares a ``depends_on`` that model, so dbt never reads the table before it exists.
SOURCES: dict[str, tuple[str, str, str]] = {
    "ml_lead_scores": ("ml", "ml_lead_scores", "int_lead_scores__predictive"),
}


def generic_type(data_type: str | None) -> str:
    """Map a warehouse data type (``varchar``, ``bigint``, ``timestamp`` …) to a generic type."""
    if not data_type:
        return UNKNOWN
    t = data_type.strip().lower()
    if t in {STRING, NUMBER, BOOLEAN, DATE, TIMESTAMP}:
        return t
    if any(k in t for k in ("char", "text", "string", "uuid")):
        return STRING
    if t.startswith("bool"):
        return BOOLEAN
    if "timestamp" in t or "datetime" in t:
        return TIMESTAMP
    if t == "date":
        return DATE
    if any(k in t for k in ("int", "double", "float", "decimal", "numeric", "real", "number")):
        return NUMBER
    return UNKNOWN


@dataclass
class Catalog:
    """Known columns per model: ``{model: {column: generic type}}``."""

    models: dict[str, dict[str, str]] = field(default_factory=dict)

    def has(self, model: str) -> bool:
        return model in self.models

    def columns(self, model: str) -> dict[str, str]:
        return self.models.get(model, {})


def _from_manifest(path: Path, wanted: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("could not read %s: %s", path, exc)
        return out
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("name") not in wanted:
            continue
        cols = {name.lower(): generic_type(c.get("data_type")) for name, c in node.get("columns", {}).items()}
        out[node["name"]] = cols
    return out


def _from_yaml(models_dir: Path, wanted: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            log.warning("could not parse %s: %s", path, exc)
            continue
        for model in doc.get("models", []) if isinstance(doc, dict) else []:
            name = model.get("name") if isinstance(model, dict) else None
            if name not in wanted:
                continue
            cols: dict[str, str] = {}
            for c in model.get("columns") or []:
                if isinstance(c, dict) and c.get("name"):
                    cols[str(c["name"]).lower()] = generic_type(c.get("data_type"))
            out[name] = cols
    return out


def _model_exists(models_dir: Path, name: str) -> bool:
    return any(models_dir.rglob(f"{name}.sql")) or any(models_dir.rglob(f"{name}.py"))


def load_catalog(project_dir: Path) -> Catalog:
    """Collect the known columns of the person and event models from the dbt project."""
    models_dir = project_dir / "models"
    wanted = {m for m, _, _ in PERSON_SOURCES} | {EVENT_SOURCE}
    found: dict[str, dict[str, str]] = {}
    # The models' YAML is the source the manifest is parsed from, so it is never stale; the manifest fills in
    # models declared elsewhere (packages, other folders).
    if models_dir.exists():
        found.update({k: v for k, v in _from_yaml(models_dir, wanted).items() if v})
    manifest = dbt_target_dir(project_dir) / "manifest.json"
    if manifest.exists():
        for k, v in _from_manifest(manifest, wanted).items():
            if v and k not in found:
                found[k] = v
    catalog = Catalog()
    for name in wanted:
        declared = found.get(name)
        contract = CONTRACT.get(name)
        if declared:
            # Fill unknown types from the contract where the YAML declares no data_type.
            catalog.models[name] = {
                c: (t if t != UNKNOWN else (contract or {}).get(c, UNKNOWN)) for c, t in declared.items()
            }
        elif contract is not None:
            catalog.models[name] = dict(contract)
        elif models_dir.exists() and _model_exists(models_dir, name):
            log.info("model %s exists but declares no columns; its fields are not usable in segments", name)
    return catalog
