import polars as pl
import pytest

from outflow.generate import generate


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(1500, 11, out)
    return out


def _read(folder, table):
    return pl.read_parquet(folder / table / "*.parquet")


def test_same_seed_same_data_and_other_seed_differs(data, tmp_path):
    generate(1500, 11, tmp_path / "again")
    generate(1500, 12, tmp_path / "other")
    for table in ("raw/crm_contacts", "raw/web_events", "raw/orders", "truth/identifiers"):
        assert _read(data, table).equals(_read(tmp_path / "again", table))
    assert not _read(data, "raw/crm_contacts").equals(_read(tmp_path / "other", "raw/crm_contacts"))


def test_data_is_messy_the_way_real_data_is(data):
    crm = _read(data, "raw/crm_contacts")
    emails = crm["email"].drop_nulls()
    assert (emails != emails.str.strip_chars()).any()  # whitespace
    assert (emails != emails.str.to_lowercase()).any()  # mixed case
    assert emails.str.contains(r"\+").any()  # plus-tags
    assert emails.str.starts_with("info@").any() or emails.str.starts_with("sales@").any()  # role addresses
    assert emails.is_in(["test@test.com", "none@none.com", "noemail@example.com"]).any()  # junk
    assert crm["contact_id"].str.ends_with("-D").sum() > 10  # duplicate records
    phones = crm["phone"].drop_nulls()
    assert phones.str.contains(r"^\(").any() and phones.str.contains(r"^\+").any() and phones.str.contains(r"\.").any()
    web = _read(data, "raw/web_events")
    assert ((web["received_at"] - web["occurred_at"]).dt.total_days() >= 1).any()  # late-arriving
    shared = _read(data, "truth/shared_identifiers")
    assert (shared["identifier_type"] == "cookie").any()  # household devices


def test_truth_has_people_with_propensity_and_labels(data):
    people = _read(data, "truth/people")
    assert people.height == 1500
    assert 0.05 < people["converted"].mean() < 0.5
    assert people["propensity"].is_between(0, 1).all()
    ids = _read(data, "truth/identifiers")
    assert set(ids["identifier_type"].unique()) == {"email", "phone", "crm_id", "user_id", "cookie"}
