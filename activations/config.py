"""Sync declarations: one YAML file per sync in ``activations/syncs/``, validated with pydantic.

Every error names the file and the key path, e.g. ``activations/syncs/x.yml: mode: must be one of ...``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from outflow.errors import OutflowError, did_you_mean

SYNCS_DIR = Path(__file__).resolve().parent / "syncs"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


def syncs_dir() -> Path:
    """Where sync YAML files live (env OUTFLOW_SYNCS_DIR, default ``activations/syncs``)."""
    value = os.environ.get("OUTFLOW_SYNCS_DIR")
    return Path(value).expanduser().resolve() if value else SYNCS_DIR


class Delivery(StrEnum):
    at_least_once = "at_least_once"
    at_most_once = "at_most_once"


class Mode(StrEnum):
    upsert = "upsert"
    update = "update"
    insert = "insert"
    mirror = "mirror"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    requests: float = Field(gt=0, description="requests allowed per period")
    per_seconds: float = Field(default=1.0, gt=0)


class Destination(_Strict):
    type: str = Field(description="destination type, e.g. webhook")
    object: str = Field(description="destination object, e.g. contacts")
    base_url: str
    secret_env: str | None = Field(
        default=None, description="NAME of the env var holding the secret (never the secret); all but file"
    )
    rate_limit: RateLimit | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_retries: int | None = Field(
        default=None, ge=0, le=1000, description="retries per request; default: as many as the retry budget allows"
    )
    retry_budget_seconds: float = Field(
        default=900.0,
        gt=0,
        description="time one run may spend waiting on throttling and failures (retries, quota pauses); past it "
        "the run stops cleanly and unacknowledged rows stay pending",
    )
    max_backoff_seconds: float = Field(default=30.0, gt=0)
    max_retry_after_seconds: float = Field(
        default=60.0, gt=0, description="longest wait a Retry-After answer may impose (larger values are capped)"
    )
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="vendor settings, e.g. list_id, id_property, api_version"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from activations.destinations import DESTINATIONS

        if v not in DESTINATIONS:
            raise ValueError(f"unknown destination type {v!r}; known: {', '.join(sorted(DESTINATIONS))}")
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v) and not v.startswith("file:///"):
            raise ValueError("must be an http(s) URL (or file:///directory for type file)")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _secret_needed(self) -> Destination:
        if self.secret_env is None and self.type != "file":
            raise ValueError("secret_env: required for this destination type (the NAME of an env var)")
        if self.base_url.startswith("file:") and self.type != "file":
            raise ValueError("base_url: must be an http(s) URL")
        return self

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", v):
            raise ValueError("must be an environment variable NAME (upper case), not the secret itself")
        return v


class Thresholds(_Strict):
    max_change_share: float = Field(
        default=0.20, ge=0, le=1, description="refuse a run changing/removing more than this share"
    )
    min_rows_for_breaker: int = Field(
        default=0, ge=0, description="the breaker only applies when the destination holds more rows"
    )
    max_invalid_share: float = Field(
        default=0.05, ge=0, le=1, description="the Dagster check fails when more of the model's rows are invalid"
    )
    max_deferral_hours: float = Field(
        default=24.0,
        gt=0,
        description="a row the destination has held back (quiet hours) for longer than this since it was first "
        "deferred is rejected instead, with the reason: a wrong time zone cannot hold it for ever",
    )


class SyncConfig(_Strict):
    name: str
    source: str = Field(description="activation model in schema main: sync_* (audience) or trg_* (trigger)")
    primary_key: str
    destination: Destination
    mode: Mode
    fields: dict[str, str] = Field(description="source column -> destination field")
    email_fields: list[str] | None = Field(
        default=None, description="source columns checked as emails; default: mapped columns named *email*"
    )
    schedule: str | None = Field(default=None, description="cron expression")
    thresholds: Thresholds = Thresholds()
    batch_size: int | None = Field(default=None, gt=0, description="default: the destination's limit")
    concurrency: int = Field(default=1, ge=1, le=16, description="batches in flight at once")
    log_retention_days: int = Field(default=30, ge=1)
    run_deadline_seconds: float = Field(
        default=3600.0, gt=0, description="a run stops cleanly after this long; unsent rows go next run"
    )
    delivery: Delivery = Field(
        default=Delivery.at_least_once,
        description="at_least_once: a batch whose answer was lost in a crash is sent again; at_most_once: it is "
        "recorded as unknown and never sent again",
    )
    path: str | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError("must be letters, digits and underscores")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not _IDENT.match(v) or not (v.startswith("sync_") or v.startswith("trg_")):
            raise ValueError("must be a model named sync_* (audience) or trg_* (trigger)")
        return v

    @field_validator("primary_key")
    @classmethod
    def _pk(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError("must be a column name")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("at least one field mapping is required")
        for src, dst in v.items():
            if not _IDENT.match(src):
                raise ValueError(f"{src!r} is not a column name")
            if not isinstance(dst, str) or not dst:
                raise ValueError(f"{src!r}: destination field must be a non-empty string")
        if len(set(v.values())) != len(v):
            raise ValueError("two columns map to the same destination field")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = v.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise ValueError("must be a 5-field cron expression, e.g. '0 * * * *'")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> SyncConfig:
        if self.email_fields is not None:
            for col in self.email_fields:
                if col not in self.fields:
                    raise ValueError(f"email_fields: {col!r} is not a mapped column")
        if self.mode is Mode.insert and not self.source.startswith("trg_"):
            raise ValueError("mode: insert is for triggers; the source must be a trg_* model")
        if self.mode is Mode.mirror and not self.source.startswith("sync_"):
            raise ValueError("mode: mirror is for audiences; the source must be a sync_* model")
        return self

    @property
    def checked_email_columns(self) -> list[str]:
        if self.email_fields is not None:
            return list(self.email_fields)
        return [s for s, d in self.fields.items() if "email" in s.lower() or "email" in d.lower()]

    @property
    def is_trigger(self) -> bool:
        return self.source.startswith("trg_")


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else "(top level)"


def _format_error(path: str, err: ValidationError) -> str:
    first = err.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    loc = _loc(first["loc"])
    if first["type"] == "enum":
        expected = first.get("ctx", {}).get("expected", "")
        msg = f"must be one of {expected}"
    elif first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def _display(path: Path) -> str:
    """The path as shown in errors: relative to the working directory, control characters escaped (one line)."""
    try:
        shown = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], shown)


def load_sync(path: Path | str) -> SyncConfig:
    """Read and validate one sync file; raise OutflowError naming the file and key on any problem."""
    path = Path(path)
    shown = _display(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise OutflowError(f"{shown}: file not found") from exc
    except IsADirectoryError:
        raise OutflowError(f"{shown}: is a directory, not a sync file; rename or move it") from None
    except PermissionError:
        raise OutflowError(f"{shown}: cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise OutflowError(
            f"{shown}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise OutflowError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise OutflowError(f"{shown}:{where} not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise OutflowError(f"{shown}: (top level): must be a mapping with one sync")
    try:
        cfg = SyncConfig.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        raise OutflowError(_format_error(shown, exc)) from exc
    return cfg


def load_syncs(directory: Path | str | None = None) -> list[SyncConfig]:
    """All syncs in a directory (``*.yml``/``*.yaml``), sorted by name; names must be unique."""
    directory = Path(directory) if directory else syncs_dir()
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.exists() else []
    out: dict[str, SyncConfig] = {}
    for f in files:
        cfg = load_sync(f)
        if cfg.name in out:
            raise OutflowError(f"{_display(f)}: name: {cfg.name!r} is already declared in {out[cfg.name].path}")
        out[cfg.name] = cfg
    return [out[k] for k in sorted(out)]


def find_sync(name: str, directory: Path | str | None = None) -> SyncConfig:
    syncs = load_syncs(directory)
    for cfg in syncs:
        if cfg.name == name:
            return cfg
    where = _display(Path(directory) if directory else syncs_dir())
    raise OutflowError(f"no sync named {name!r} in {where}{did_you_mean(name, [cfg.name for cfg in syncs])}")


# ------------------------------------------------------------------------------------- secret masking

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
MASK = "***"


def remember_secret(value: str) -> None:
    """Mask ``value`` (and its parts around ':' and its Basic-auth encodings) in every error, log line and
    stored message from now on (``mask``)."""
    if len(value) < 6:
        return
    forms = {value, *(p for p in value.split(":") if len(p) >= 8)}
    for prefix in ("", "outflow:", "anystring:"):
        forms.add(base64.b64encode(f"{prefix}{value}".encode()).decode())
    with _SECRETS_LOCK:
        new = not _SECRETS
        _SECRETS.update(forms)
    if new:
        _install_log_masking()


def mask(text: str) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    if not _SECRETS or not text:
        return text
    for s in sorted(_SECRETS, key=len, reverse=True):
        if s in text:
            text = text.replace(s, MASK)
    return text


def _install_log_masking() -> None:
    """Every log record of the process is masked as it is created (whatever logger or handler)."""
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)


def resolve_secret(cfg: SyncConfig) -> str:
    """The secret from the env var the YAML names; a clear error (never the value) if missing. Every secret a
    sync reads from the environment (``secret_env`` and ``options.*_env``) is masked from then on."""
    for key, env in cfg.destination.options.items():
        if key.endswith("_env") and isinstance(env, str) and os.environ.get(env):
            remember_secret(os.environ[env])
    if cfg.destination.secret_env is None:
        return ""  # validated: only destinations without credentials (file) omit it
    value = os.environ.get(cfg.destination.secret_env)
    if not value:
        raise OutflowError(
            f"{cfg.path or cfg.name}: destination.secret_env: environment variable "
            f"{cfg.destination.secret_env} is not set"
        )
    remember_secret(value)
    return value
