"""The fuzzy identity stage and the evaluation on PostgreSQL: the same hard-mode files built on both engines with
the stage on give the same fuzzy links, the same edges and the same evaluation."""

from __future__ import annotations

import polars as pl
import psycopg
import pytest

from outflow.contract import GATING_TABLES
from outflow.generate import generate
from outflow.identity_eval import evaluate, read_truth
from outflow.load import load_directory
from outflow.pipeline import build
from outflow.warehouse import connect
from tests.demo_builds import database_url as _database_url
from tests.demo_builds import postgres_env as _postgres_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # two real dbt builds


def _figures(wh) -> tuple[list, int]:
    links = wh.fetch_polars("select record_id_l, record_id_r from outflow_identity.fuzzy_links order by 1, 2")
    edges = wh.execute("select count(*) from main.int_identity__fuzzy_links").fetchall()[0][0]
    return links.rows(), edges


def test_fuzzy_stage_and_evaluation_match_on_postgres(tmp_path, postgres_url):
    data = tmp_path / "data"
    generate(600, 3, data, hard=True)
    truth = read_truth(data / "truth" / "records")
    duck = tmp_path / "w.duckdb"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("drop database if exists fuzzy")
        admin.execute("create database fuzzy")
    pg_url = _database_url(postgres_url, "fuzzy")
    results = {}
    for target in ("duckdb", "postgres"):
        with connect(duck) if target == "duckdb" else connect(url=pg_url) as wh:
            load_directory(wh, data, allow_empty=GATING_TABLES)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OUTFLOW_IDENTITY_FUZZY", "on")
            if target == "postgres":
                _postgres_env(mp, pg_url)
                build()
            else:
                mp.setenv("OUTFLOW_TARGET", "duckdb")
                build(warehouse=duck)
        with connect(duck) if target == "duckdb" else connect(url=pg_url) as wh:
            results[target] = (*_figures(wh), evaluate(wh, truth))
    (duck_links, duck_edges, duck_eval), (pg_links, pg_edges, pg_eval) = results["duckdb"], results["postgres"]
    assert duck_links and duck_links == pg_links
    assert duck_edges == pg_edges > 0
    assert pl.DataFrame(duck_eval.groups).equals(pl.DataFrame(pg_eval.groups))
    assert duck_eval.fuzzy == pg_eval.fuzzy and duck_eval.fuzzy[0].pairs > 0
