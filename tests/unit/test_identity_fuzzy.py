"""The fuzzy identity stage's parts: Splink scoring on hand-made records, the acceptance rule, the settings."""

from __future__ import annotations

import polars as pl
import pytest

from outflow.errors import OutflowError
from outflow.identity_fuzzy import PAIR_COLUMNS, FuzzyConfig, decide, fuzzy_config, score_pairs

COLUMNS = ["record_id", "first_name", "last_name", "company", "email_local", "email_domain", "phone"]
PEOPLE = [
    # (record_id, first, last, company, email local, domain, phone)
    ("crm:ann", "ann", "tester", "acme", "ann.tester", "acme.io", "+447700900001"),
    ("crm:ann-dup", "ann", "tester", "acme", None, None, None),  # shares only name and company
    ("crm:ann-typo", "ann", "tester", "acme", "ann.tsetre", "acme.io", None),  # not one character away
    ("crm:bob", "bob", "baker", "bolt", "bob.baker7", "bolt.io", "+447700900002"),
    ("crm:bob-typo", "bob", "baker", "bolt", "bob.bkaer7", "bolt.io", None),  # one swapped pair of letters
    ("crm:cy1", "cy", "young", "core", "cy.young1", "core.io", "+447700900003"),
    ("crm:cy2", "cy", "young", "core", "cy.young2", "core.io", "+447700900004"),  # a namesake, another account
] + [
    (f"crm:x{i}", f"first{i}", f"last{i}", f"company{i}", f"mail{i}", "x.io", f"+44770090{1000 + i}") for i in range(60)
]


def _records(rows=PEOPLE) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=COLUMNS, orient="row")


def _pairs(accepted: pl.DataFrame) -> set[tuple[str, str]]:
    return set(zip(accepted["record_id_l"], accepted["record_id_r"], strict=True))


def test_splink_links_name_only_duplicates_and_typos():
    config = FuzzyConfig(enabled=True)
    pairs = score_pairs(_records(), config)
    accepted, review = decide(pairs, config)
    links = _pairs(accepted)
    assert ("crm:ann", "crm:ann-dup") in links
    assert ("crm:bob", "crm:bob-typo") in links
    assert not any("crm:x" in a or "crm:x" in b for a, b in links)
    assert set(review.columns) == set(PAIR_COLUMNS) | {"reason"}
    weight = dict(zip(zip(pairs["record_id_l"], pairs["record_id_r"], strict=True), pairs["match_weight"], strict=True))
    # a one-character typo is evidence for a match; two accounts of namesakes (their digits differ) and a local
    # part two edits away are evidence against it: they weigh less than no email at all
    name_only = weight[("crm:ann", "crm:ann-dup")]
    assert weight[("crm:bob", "crm:bob-typo")] > name_only
    assert weight[("crm:cy1", "crm:cy2")] < name_only
    assert weight[("crm:ann", "crm:ann-typo")] < name_only


def test_a_record_matching_two_people_who_do_not_match_is_ambiguous():
    pairs = pl.DataFrame(
        [
            ("crm:dup", "crm:sam1", 10.0, 0.999),  # a name-only record matches two namesakes...
            ("crm:dup", "crm:sam2", 10.0, 0.999),  # ...who do not match each other
            ("crm:kim", "crm:kim-dup", 12.0, 0.9997),
            ("crm:kim", "crm:kim-2", 13.0, 0.9998),
            ("crm:kim-2", "crm:kim-dup", 11.0, 0.9995),  # three records that all match: accepted
            ("crm:lee", "crm:lee-dup", 1.0, 0.66),
        ],
        schema=list(PAIR_COLUMNS)[:4],
        orient="row",
    ).with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in list(PAIR_COLUMNS)[4:])
    accepted, review = decide(pairs, FuzzyConfig(match_probability=0.95, review_probability=0.5))
    assert _pairs(accepted) == {("crm:kim", "crm:kim-dup"), ("crm:kim", "crm:kim-2"), ("crm:kim-2", "crm:kim-dup")}
    reasons = dict(zip(review["record_id_r"], review["reason"], strict=True))
    assert reasons["crm:sam1"].startswith("ambiguous") and reasons["crm:sam2"].startswith("ambiguous")
    assert reasons["crm:lee-dup"] == "below the match threshold"


def test_settings_from_dbt_project_and_environment(tmp_path, monkeypatch):
    yml = tmp_path / "dbt_project.yml"
    yml.write_text("vars:\n  identity_fuzzy: {enabled: true, match_probability: 0.9, review_probability: 0.4}\n")
    monkeypatch.delenv("OUTFLOW_IDENTITY_FUZZY", raising=False)
    config = fuzzy_config(yml)
    assert (config.enabled, config.match_probability, config.review_probability) == (True, 0.9, 0.4)
    monkeypatch.setenv("OUTFLOW_IDENTITY_FUZZY", "off")
    assert not fuzzy_config(yml).enabled
    monkeypatch.setenv("OUTFLOW_IDENTITY_FUZZY", "maybe")
    with pytest.raises(OutflowError, match="OUTFLOW_IDENTITY_FUZZY='maybe': use on or off"):
        fuzzy_config(yml)
    monkeypatch.delenv("OUTFLOW_IDENTITY_FUZZY")
    yml.write_text("vars:\n  identity_fuzzy: {match_probability: 0.3, review_probability: 0.6}\n")
    with pytest.raises(OutflowError, match=r"dbt_project.yml: vars.identity_fuzzy needs 0 < review_probability"):
        fuzzy_config(yml)
    yml.write_text("vars:\n  identity_fuzzy: {match_probability: high}\n")
    with pytest.raises(OutflowError, match=r"dbt_project.yml: vars.identity_fuzzy needs enabled"):
        fuzzy_config(yml)
    # the project's own setting: off by default
    assert not fuzzy_config().enabled
