"""The Dagster definitions parse the dbt project again when their manifest no longer matches the files on disk:
a model edited, added, renamed or deleted (a deletion changes no file that is left, only its folder), or
dbt_project.yml changed; and not when nothing changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestration.defs.dbt import manifest_is_stale


def _project(root: Path) -> tuple[Path, Path]:
    for rel in ("models/marts/a.sql", "models/marts/b.sql", "macros/m.sql", "seeds/s.csv", "dbt_project.yml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    manifest = root / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    # the project a minute ago, parsed half a minute ago (file times are coarser than the test's steps)
    past = time.time() - 60
    for p in [*root.rglob("*"), root]:
        os.utime(p, (past, past + 30 if p == manifest else past))
    return root, manifest


def test_a_manifest_newer_than_every_project_file_is_kept(tmp_path: Path) -> None:
    root, manifest = _project(tmp_path)
    assert not manifest_is_stale(manifest, root)
    (root / "logs").mkdir()  # dbt's own folders beside the project's do not count
    assert not manifest_is_stale(manifest, root)


def test_a_missing_manifest_is_stale(tmp_path: Path) -> None:
    root, manifest = _project(tmp_path)
    manifest.unlink()
    assert manifest_is_stale(manifest, root)


def test_a_model_edited_added_or_deleted_makes_it_stale(tmp_path: Path) -> None:
    for change in (
        lambda r: (r / "models/marts/a.sql").write_text("y"),
        lambda r: (r / "models/marts/c.sql").write_text("y"),
        lambda r: (r / "models/marts/b.sql").unlink(),
        lambda r: (r / "macros/m.sql").rename(r / "macros/n.sql"),
        lambda r: (r / "dbt_project.yml").write_text("y"),
    ):
        root, manifest = _project(tmp_path / f"p{len(list(tmp_path.iterdir()))}")
        change(root)
        assert manifest_is_stale(manifest, root)
