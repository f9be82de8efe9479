"""Every distinct raw phone, with the country it was captured in, normalized to E.164 by `phonenumbers`.

Numbers that do not parse or are not valid for their region normalize to null, so a typo never becomes an
identifier. Region: the record's country when known, else var('default_phone_region').
"""

import phonenumbers
import pyarrow as pa


def _e164(raw, region):
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def model(dbt, session):
    dbt.config(materialized="table")
    default_region = dbt.config.get("default_phone_region") or "US"
    # relations become temporary views so that one SQL statement can combine them
    dbt.ref("country_codes").create_view("_countries", replace=True)
    dbt.source("raw", "crm_contacts").create_view("_raw_crm_contacts", replace=True)
    dbt.source("raw", "orders").create_view("_raw_orders", replace=True)
    dbt.source("raw", "consent_events").create_view("_raw_consent_events", replace=True)
    dbt.source("raw", "erasure_requests").create_view("_raw_erasure_requests", replace=True)
    distinct = session.sql(
        f"""
        select distinct phone_raw, country_raw, coalesce(c.iso2, '{default_region}') as region
        from (
            select phone as phone_raw, country as country_raw from _raw_crm_contacts where phone is not null
            union all
            select phone, null from _raw_orders where phone is not null
            union all
            select identifier, null from _raw_consent_events where identifier_type = 'phone'
            union all
            select identifier, null from _raw_erasure_requests where identifier_type = 'phone'
        ) p
        left join _countries c on lower(trim(p.country_raw)) = c.alias
        """
    ).fetchall()
    rows = [(raw, country, _e164(raw, region)) for raw, country, region in distinct]
    return pa.table(
        {
            "phone_raw": pa.array([r[0] for r in rows], pa.string()),
            "country_raw": pa.array([r[1] for r in rows], pa.string()),
            "phone_e164": pa.array([r[2] for r in rows], pa.string()),
        }
    )
