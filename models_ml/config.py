"""Model configs: a YAML file declares a model over a warehouse table (or a built-in feature set).

    name: bank_marketing
    source: {table: main.bank_marketing}     # or {dbt_model: fct_something} (in the dbt schema, main)
    entity_key: client_id
    label: y
    positive: "yes"                          # the label value meaning 1 (booleans and 0/1 need none)
    time_column: contacted_on                # optional: out-of-time holdout and early stopping by time
    exclude: [duration]                      # or `features: [...]` to list them
    groups: [marital, age]                   # attributes to audit for fairness (numbers are banded)

`kind: lead_score` and `kind: churn` use the built-in point-in-time features (models_ml/features.py);
`kind: table` (the default) reads the named table. Configs ship in models_ml/configs/ and are read
from the folders in OUTFLOW_MODEL_CONFIGS (separated by the OS path separator) too.

Problems are one line naming the file and the key: `check_frame` checks a config against the data
(unknown columns, a label with one class, a time column with nulls).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models_ml.errors import ModelError
from models_ml.registry import DEFAULT_MARGIN

BUNDLED = Path(__file__).resolve().parent / "configs"
CONFIG_DIRS_ENV = "OUTFLOW_MODEL_CONFIGS"
_NAME = r"^[a-z][a-z0-9_]*$"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str | None = None
    dbt_model: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Source:
        if (self.table is None) == (self.dbt_model is None):
            raise ValueError("give exactly one of `table` or `dbt_model`")
        return self

    @property
    def qualified(self) -> str:
        return self.table or f"main.{self.dbt_model}"


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME)
    kind: Literal["table", "lead_score", "churn"] = "table"
    source: Source | None = None
    entity_key: str | None = None
    label: str | None = None
    positive: str | int | bool | None = None
    time_column: str | None = None
    features: list[str] | None = None
    exclude: list[str] = []
    groups: list[str] = []
    holdout_share: float = Field(0.2, gt=0, lt=1)
    cv_folds: int = Field(5, ge=0, le=20)
    margin: float = DEFAULT_MARGIN
    scores_table: str | None = None
    churn_window_days: int = Field(90, ge=1)
    params: dict[str, Any] = {}
    path: str | None = None

    @model_validator(mode="after")
    def _table_needs(self) -> ModelConfig:
        for key in ("source", "entity_key", "label", "time_column", "features"):
            if self.kind == "table" and key in ("source", "entity_key", "label") and getattr(self, key) is None:
                raise ValueError(f"`{key}` is required for a model over a table")
            if self.kind != "table" and getattr(self, key) is not None:
                raise ValueError(f"`{key}` applies to `kind: table` only; kind {self.kind} builds its own features")
        return self

    @property
    def scores(self) -> str:
        return self.scores_table or f"main.ml_{self.name}_scores"

    @property
    def asset(self) -> list[str]:
        """Its Dagster asset key: the model trained, promoted and scored (orchestration/defs/ml.py)."""
        return ["ml", f"{self.name}_model"]

    def where(self, key: str) -> str:
        """'<file>: <key>' for error messages."""
        return f"{self.path or self.name}: {key}"


def _format(path: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    return f"{path}: {loc}: {msg}"


def load_config(path: Path | str) -> ModelConfig:
    """Read and validate one config file (ModelError naming the file and key on any problem)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ModelError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: (top level): must be a mapping describing one model")
    try:
        return ModelConfig.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        raise ModelError(_format(str(path), exc)) from None


def config_dirs() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get(CONFIG_DIRS_ENV, "").split(os.pathsep) if p]
    return [*extra, BUNDLED]


def load_configs() -> list[ModelConfig]:
    """Every config in the config folders; a name in an earlier folder hides the same name in a later one."""
    found: dict[str, ModelConfig] = {}
    for folder in config_dirs():
        for f in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []:
            cfg = load_config(f)
            found.setdefault(cfg.name, cfg)
    return sorted(found.values(), key=lambda c: c.name)


def find_config(name_or_path: str) -> ModelConfig:
    """A config by name, or the config file at that path."""
    if name_or_path.endswith((".yml", ".yaml")) or os.sep in name_or_path:
        return load_config(name_or_path)
    configs = load_configs()
    for cfg in configs:
        if cfg.name == name_or_path:
            return cfg
    names = [c.name for c in configs]
    near = difflib.get_close_matches(name_or_path, names, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(names)}"
    raise ModelError(f"no model config named {name_or_path!r} in {', '.join(map(str, config_dirs()))}{hint}")


def _unknown(cfg: ModelConfig, key: str, column: str, columns: list[str], table: str) -> ModelError:
    near = difflib.get_close_matches(column, columns, n=1)
    hint = f" (nearest: {near[0]!r})" if near else ""
    return ModelError(f"{cfg.where(key)}: column {column!r} is not in {table}{hint}")


def used_columns(cfg: ModelConfig, columns: list[str]) -> list[str]:
    """The columns a table config reads, in table order (features default to all but the others)."""
    special = {cfg.entity_key, cfg.label, cfg.time_column, *cfg.exclude}
    feats = cfg.features if cfg.features is not None else [c for c in columns if c not in special]
    wanted = {cfg.entity_key, cfg.label, cfg.time_column, *feats, *cfg.groups} - {None}
    return [c for c in columns if c in wanted]


def check_columns(cfg: ModelConfig, columns: list[str], table: str) -> None:
    """Every column the config names exists in the table."""
    named: list[tuple[str, str]] = [("entity_key", cfg.entity_key or ""), ("label", cfg.label or "")]
    if cfg.time_column:
        named.append(("time_column", cfg.time_column))
    named += [(f"features[{i}]", c) for i, c in enumerate(cfg.features or [])]
    named += [(f"exclude[{i}]", c) for i, c in enumerate(cfg.exclude)]
    named += [(f"groups[{i}]", c) for i, c in enumerate(cfg.groups)]
    for key, column in named:
        if column and column not in columns:
            raise _unknown(cfg, key, column, columns, table)


def label_values(cfg: ModelConfig, frame: pl.DataFrame, table: str) -> pl.Series:
    """The label as 0/1 floats; one line naming the file and key when it cannot be one."""
    col = frame[cfg.label]
    if col.null_count():
        raise ModelError(f"{cfg.where('label')}: column {cfg.label!r} has {col.null_count()} null values in {table}")
    if cfg.positive is not None:
        y = col.cast(pl.String).str.to_lowercase() == str(cfg.positive).lower()
    elif col.dtype == pl.Boolean:
        y = col
    elif col.dtype.is_numeric() and set(col.unique().to_list()) <= {0, 1}:
        y = col == 1
    else:
        sample = ", ".join(repr(v) for v in col.unique().sort().head(3).to_list())
        raise ModelError(
            f"{cfg.where('label')}: column {cfg.label!r} holds {sample}…; set `positive:` to the value that means 1"
        )
    positives = int(y.sum())
    if positives in (0, len(y)):
        only = col[0]
        raise ModelError(
            f"{cfg.where('label')}: column {cfg.label!r} has a single class ({only!r} in all {len(y)} rows of "
            f"{table}){' given positive: ' + repr(cfg.positive) if cfg.positive is not None else ''}; "
            "a model needs both outcomes"
        )
    return y.cast(pl.Float64).alias(cfg.label)


def check_time(cfg: ModelConfig, frame: pl.DataFrame, table: str) -> None:
    if cfg.time_column and frame[cfg.time_column].null_count():
        n = frame[cfg.time_column].null_count()
        raise ModelError(
            f"{cfg.where('time_column')}: column {cfg.time_column!r} has {n} null values in {table}; "
            "fill or filter them (or drop `time_column` for a random holdout)"
        )


def group_values(series: pl.Series, bands: int = 4) -> pl.Series:
    """A group attribute as text: numbers are cut into `bands` quantile bands."""
    if series.dtype.is_numeric() and series.n_unique() > 12:
        return series.cast(pl.Float64).qcut(bands, allow_duplicates=True).cast(pl.String).alias(series.name)
    return series.cast(pl.String).alias(series.name)
