"""int_identity__signature_persons gives each signature the person of its identifier first by (type rank, type,
value). On DuckDB the macro takes it with one arg_min by a single string (the rank's digit, the type, ':' and the
value); this checks, on DuckDB, that the string orders as the three do, on identifiers chosen so that any other
order would pick another person: values that differ only in punctuation below and above ':', a prefix of
another, digits, case and non-ASCII; the two types of rank 5 (cookie, device) in one signature; every type beside
every other."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import jinja2
import polars as pl

from outflow import settings
from outflow.person_map import IDENTIFIER_TYPES
from outflow.warehouse import connect

MACROS = settings.DBT_PROJECT_DIR / "macros" / "identity_signatures.sql"
# the rank int_identity__signature_persons passes (its strongest-first order of types)
RANK = {"crm_id": 1, "user_id": 2, "email": 3, "phone": 4}
RANK_SQL = (
    "case identifier_type when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3 when 'phone' then 4 else 5 end"
)
VALUES = ["a", "a-b", "a.b", "a:b", "a;b", "a_b", "ab", "a b", "A", "a0", "a9", "é", "z", "", "a\u00a0", "0"]


def _duckdb_macro() -> str:
    # dbt's Jinja has the `do` statement, which other macros of the file use
    module = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(MACROS.read_text()).module
    return str(module.default__outflow_identity_strongest_person("person_id", RANK_SQL, "identifier_type",
                                                                  "identifier_value")).strip()  # fmt: skip


def test_the_duckdb_key_orders_as_rank_type_value(tmp_path: Path) -> None:
    rng = random.Random(0)
    rows = []
    for signature in range(3000):
        size = rng.randint(2, 6)
        pairs = rng.sample(list(itertools.product(IDENTIFIER_TYPES, VALUES)), size)
        rows += [(f"s{signature}", t, v, f"p{signature}_{i}") for i, (t, v) in enumerate(pairs)]
    identifiers = pl.DataFrame(
        rows, schema=["signature_id", "identifier_type", "identifier_value", "person_id"], orient="row"
    )
    expected = {
        signature: min(group.rows(), key=lambda r: (RANK.get(r[1], 5), r[1], r[2]))[3]
        for (signature,), group in identifiers.group_by("signature_id")
    }
    with connect(tmp_path / "w.duckdb") as wh:
        wh.write_arrow("identifiers", identifiers.to_arrow(), mode="replace")
        got = wh.fetch_polars(
            f"select signature_id, {_duckdb_macro()} as person_id from identifiers group by signature_id"
        )
    assert "struct" not in _duckdb_macro()  # the single-string key is what is checked
    assert dict(got.rows()) == expected
    # the order is not the plain key order: the rank decides for some signatures, the type for others
    by_key = {
        signature: min(group.rows(), key=lambda r: (r[1], r[2]))[3]
        for (signature,), group in identifiers.group_by("signature_id")
    }
    assert sum(expected[s] != by_key[s] for s in expected) > 100
