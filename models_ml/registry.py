"""A model registry in a directory: one folder per version, a CURRENT pointer, a promotion log.

Layout (root from OUTFLOW_MODEL_REGISTRY, default `<warehouse dir>/models`):

    <root>/<version>/model.json     xgboost booster (its own JSON format)
    <root>/<version>/baseline.pkl   logistic-regression baseline (scikit-learn, pickled)
    <root>/<version>/meta.json      metrics, training-data window, feature list, code version, params
    <root>/CURRENT                  the promoted version
    <root>/promotions.jsonl         every promotion decision, accepted or not
    <root>/score_runs.jsonl         every scoring run: model version, time, score distribution
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

from models_ml.errors import ModelError
from models_ml.model import FeatureEncoding, TrainedModel

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.005


def registry_root(warehouse: Path | None = None) -> Path:
    """OUTFLOW_MODEL_REGISTRY, else a `models` folder beside the warehouse file."""
    value = os.environ.get("OUTFLOW_MODEL_REGISTRY")
    if value:
        return Path(value).expanduser().resolve()
    from outflow.settings import warehouse_path

    return (warehouse or warehouse_path()).parent / "models"


def code_version() -> dict[str, Any]:
    """The package version and, when run from a git checkout, the commit and whether it is dirty."""
    from outflow import __version__

    info: dict[str, Any] = {"package": __version__, "git_sha": None, "dirty": None}
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        info["git_sha"] = sha or None
        info["dirty"] = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def decide_promotion(
    candidate_metric: float | None, current_metric: float | None, margin: float = DEFAULT_MARGIN
) -> tuple[bool, str]:
    """The promotion gate: promote when there is no current model, or the candidate beats it by `margin`."""
    if candidate_metric is None:
        return False, "candidate has no holdout metric"
    if current_metric is None:
        return True, "no current model to beat"
    if candidate_metric >= current_metric + margin:
        return True, f"holdout AUC {candidate_metric:.4f} >= current {current_metric:.4f} + margin {margin}"
    return False, f"holdout AUC {candidate_metric:.4f} < current {current_metric:.4f} + margin {margin}"


@dataclass
class ModelVersion:
    version: str
    path: Path
    meta: dict[str, Any]


class ModelRegistry:
    """Versioned model artifacts in a directory."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else registry_root()

    # -- writing ---------------------------------------------------------------------------
    def save(self, model: TrainedModel, meta: dict[str, Any]) -> ModelVersion:
        """Store a model with its metadata; returns the new version (not yet promoted)."""
        raw = bytes(model.booster.save_raw("json"))
        now = dt.datetime.now(dt.UTC)
        version = f"{now:%Y%m%dT%H%M%S%fZ}-{hashlib.sha256(raw).hexdigest()[:8]}"
        path = self.root / version
        path.mkdir(parents=True, exist_ok=False)
        (path / "model.json").write_bytes(raw)
        if model.baseline is not None:
            with (path / "baseline.pkl").open("wb") as fh:
                pickle.dump(model.baseline, fh)
        full = {
            "version": version,
            "created_at": now.isoformat(),
            "features": model.encoding.names,
            "encoding": model.encoding.to_dict(),
            "best_iteration": model.best_iteration,
            "params": model.params,
            "train_info": model.train_info,
            "code_version": code_version(),
            **meta,
        }
        (path / "meta.json").write_text(json.dumps(full, indent=2, default=str))
        log.info("saved model %s to %s", version, path)
        return ModelVersion(version, path, full)

    def promote(self, version: str, reason: str = "manual") -> None:
        if not (self.root / version / "model.json").exists():
            raise ModelError(f"model version {version!r} not found in {self.root}")
        tmp = self.root / "CURRENT.tmp"
        tmp.write_text(version + "\n")
        tmp.replace(self.root / "CURRENT")
        self._log({"version": version, "promoted": True, "reason": reason})

    def record_decision(self, version: str, promoted: bool, reason: str, **extra: Any) -> None:
        self._log({"version": version, "promoted": promoted, "reason": reason, **extra})

    def _log(self, entry: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"at": dt.datetime.now(dt.UTC).isoformat(), **entry}
        with (self.root / "promotions.jsonl").open("a") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def record_score_run(self, entry: dict[str, Any]) -> None:
        """Append one scoring run's summary (version, time, score distribution) to score_runs.jsonl."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "score_runs.jsonl").open("a") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def score_runs(self) -> list[dict[str, Any]]:
        f = self.root / "score_runs.jsonl"
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]

    # -- reading ---------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        if not self.root.exists():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            meta_file = p / "meta.json"
            if p.is_dir() and meta_file.exists():
                out.append(ModelVersion(p.name, p, json.loads(meta_file.read_text())))
        return out

    def current_version(self) -> str | None:
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return None
        return pointer.read_text().strip() or None

    def history(self) -> list[dict[str, Any]]:
        f = self.root / "promotions.jsonl"
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]

    def load(self, version: str | None = None) -> tuple[TrainedModel, dict[str, Any]]:
        """Load a version (default: the current one)."""
        version = version or self.current_version()
        if version is None:
            raise ModelError(f"no promoted model in {self.root}; run `outflow score train` first")
        path = self.root / version
        if not (path / "model.json").exists():
            raise ModelError(f"model version {version!r} not found in {self.root}")
        meta = json.loads((path / "meta.json").read_text())
        booster = xgb.Booster()
        booster.load_model(bytearray((path / "model.json").read_bytes()))
        baseline = None
        if (path / "baseline.pkl").exists():
            with (path / "baseline.pkl").open("rb") as fh:
                baseline = pickle.load(fh)  # noqa: S301 - our own artifact
        model = TrainedModel(
            booster=booster,
            encoding=FeatureEncoding.from_dict(meta["encoding"]),
            best_iteration=int(meta["best_iteration"]),
            params=meta.get("params", {}),
            train_info=meta.get("train_info", {}),
            baseline=baseline,
        )
        return model, meta
