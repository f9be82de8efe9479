-- Consent per person, channel and purpose: the latest consent fact across all of the person's identifiers
-- wins (a revocation wins a tie). No row means no consent. Hard bounces do not grant or revoke consent; they
-- are in int_consent__suppressions.
{{ config(materialized='table') }}

with ranked as (
    select
        *,
        row_number() over (
            partition by person_id, channel, purpose
            order by occurred_at desc nulls last, case status when 'revoked' then 0 else 1 end, ledger_id
        ) as fact_rank
    from {{ ref('int_consent__ledger') }}
    where status in ('granted', 'revoked')
)

select
    person_id,
    channel,
    purpose,
    status,
    status = 'granted' as is_granted,
    fact_kind as decided_by,
    source,
    identifier_type,
    identifier_value,
    occurred_at as decided_at
from ranked
where fact_rank = 1
