"""Declaration file names reach generated dbt models: anything but an identifier-like name is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from outflow.segments.audiences import load_audiences
from outflow.segments.errors import SegmentError
from outflow.segments.spec import load_segments
from outflow.settings import DBT_PROJECT_DIR

BAD = ["evil\n{{ run_query('drop table main.dim_profiles') }}.yml", "quote'd.yml", 'dq"x.yml', "{{x}}.yml"]


@pytest.mark.parametrize("name", BAD)
def test_segment_file_name_is_refused_with_one_line(tmp_path: Path, name: str) -> None:
    src = next(p for p in sorted((DBT_PROJECT_DIR / "segments").glob("*.yml")) if not p.name.startswith("_"))
    shutil.copy(src, tmp_path / name)
    with pytest.raises(SegmentError, match="file name not allowed") as exc:
        load_segments(tmp_path)
    assert "\n" not in str(exc.value) and "drop table" not in str(exc.value).split(":")[-1]


@pytest.mark.parametrize("name", BAD)
def test_audience_file_name_is_refused_with_one_line(tmp_path: Path, name: str) -> None:
    src = next(iter(sorted((DBT_PROJECT_DIR / "audiences").glob("*.yml"))))
    shutil.copy(src, tmp_path / name)
    with pytest.raises(SegmentError, match="file name not allowed") as exc:
        load_audiences(tmp_path, set())
    assert "\n" not in str(exc.value)


def test_ordinary_names_pass(tmp_path: Path) -> None:
    segments = load_segments(DBT_PROJECT_DIR / "segments")
    assert segments and all(s.file.suffix in (".yml", ".yaml") for s in segments.values())
