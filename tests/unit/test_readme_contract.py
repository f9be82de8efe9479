"""The README documents every table and column of the raw data contract."""

from outflow.contract import TABLES
from outflow.settings import PROJECT_ROOT


def test_readme_documents_every_raw_table_and_column():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for table in TABLES.values():
        section = readme.split(f"### `{table.name}`", 1)
        assert len(section) == 2, f"README has no section for {table.name}"
        body = section[1].split("###", 1)[0]
        for column in table.columns:
            assert f"| `{column.name}` | {column.type} |" in body, f"{table.name}.{column.name} undocumented"
