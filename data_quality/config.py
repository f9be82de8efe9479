"""Settings of the data quality gate: thresholds, bands and where the consent ledger lives.

Defaults are in code; a YAML file (``OUTFLOW_QUALITY_CONFIG`` or the ``config`` argument) overrides any key.
Errors name the file and the key.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data_quality.errors import QualityError


class Severity(StrEnum):
    """What a failed check does: ``blocking`` stops every sync downstream, ``warn`` is reported only."""

    BLOCKING = "blocking"
    WARN = "warn"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    ADS = "ads"
    CRM = "crm"


class QualityConfig(BaseModel):
    """Every knob of the quality gate. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    # activation models
    row_count_band: float = Field(0.3, ge=0, le=10, description="allowed relative change vs the previous run")
    row_count_slack: int = Field(5, ge=0, description="absolute rows always allowed on top of the band")
    consent_table: str | None = Field(
        "main.dim_consent", description="consent per person/channel/purpose; checks skip when it is absent"
    )
    erasure_table: str | None = Field(
        "main.stg_privacy__erasure_requests", description="erasure relation; checks skip when it is absent"
    )
    identity_table: str = "main.int_identity__identifiers"
    consent_purpose: str = "marketing"
    channels: dict[str, Channel] = Field(
        default_factory=dict,
        description="activation model -> channel, when neither a channel column nor the name says",
    )
    keys: dict[str, str] = Field(
        default_factory=dict,
        description="activation model -> key column (default: person_id; idempotency key for trg_*)",
    )
    transactional_models: list[str] = Field(
        default_factory=list,
        description="activation models that carry transactional messages (consent-exempt)",
    )
    # raw data
    freshness_hours: dict[str, float | None] = Field(
        default_factory=lambda: {
            "crm_contacts": 24 * 7,
            "web_events": 48,
            "email_events": 24 * 7,
            "orders": 24 * 7,
            "consent_events": None,
            "erasure_requests": None,
        }
    )
    future_skew_minutes: float = Field(60, ge=0)
    # profiles
    max_cluster_identifiers: int = Field(50, ge=1)
    max_mean_identifiers_per_person: float = Field(10, gt=0)
    max_share_without_contact: float = Field(0.9, ge=0, le=1)
    survivorship_fields: list[str] = Field(
        default_factory=lambda: ["email", "phone", "first_name", "last_name", "company", "country"]
    )
    # overrides and output
    severity: dict[str, Severity] = Field(
        default_factory=dict, description="'<asset>:<check>' or '<check>' -> severity override"
    )
    disabled: list[str] = Field(default_factory=list, description="'<asset>:<check>' or '<check>' to skip")
    sample_rows: int = Field(20, ge=0, le=1000)
    report_dir: Path | None = None


def load_config(path: str | os.PathLike[str] | None = None) -> QualityConfig:
    """Read the config file (argument, else env OUTFLOW_QUALITY_CONFIG, else defaults)."""
    raw_path = path if path is not None else os.environ.get("OUTFLOW_QUALITY_CONFIG")
    if not raw_path:
        return QualityConfig()
    file = Path(raw_path)
    if not file.is_file():
        raise QualityError(f"{file}: quality config file not found (set OUTFLOW_QUALITY_CONFIG to an existing file)")
    try:
        data: Any = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise QualityError(f"{file}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise QualityError(f"{file}: expected a mapping of settings at the top level")
    try:
        return QualityConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise QualityError(f"{file}: key '{key}': {err['msg']}") from None
