-- Consent per person, channel and purpose: the latest consent fact across all of the person's identifiers
-- wins (a revocation wins a tie). No row means no consent. Hard bounces do not grant or revoke consent; they
-- are in int_consent__suppressions.
-- Incremental (delete+insert on person_id; on Spark a table rebuilt whole): a daily run recomputes, from all of
-- their ledger rows, the persons int_consent__ledger logged (int_consent__touched_persons: the persons of every
-- identifier it touched, before and now), with a marker row (no status) for each, so that a person left without
-- rows loses them; the post-hook deletes the markers and empties the log. Without its mark, or when the log stands
-- for every person, every person is recomputed (the pre-hook empties the table first).
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='person_id',
    incremental_strategy='delete+insert',
    tags=['derived'],
    pre_hook=([] if target.type == 'spark' else [
        "{{ consent_create_logs() }}",
        "{{ consent_empty_unless(consent_dim_narrowed()) }}",
    ]),
    post_hook=([] if target.type == 'spark' else [
        "delete from {{ this }} where status is null",
        "delete from {{ consent_log('int_consent__touched_persons') }}",
        "{{ outflow_watermark_set({'ledger': ['int_consent__ledger', 'occurred_at']}, 'int_consent__marks') }}",
    ])
) }}

{%- set narrowed = consent_dim_narrowed() %}

with
{%- if narrowed %}
touched as materialized (
    select distinct person_id from {{ consent_log('int_consent__touched_persons') }} where person_id is not null
),
{%- endif %}

ranked as (
    select
        ledger.*,
        row_number() over (
            partition by ledger.person_id, ledger.channel, ledger.purpose
            order by ledger.occurred_at desc nulls last, case ledger.status when 'revoked' then 0 else 1 end,
                ledger.ledger_id
        ) as fact_rank
    from {{ ref('int_consent__ledger') }} as ledger
    {%- if narrowed %}
    inner join touched on touched.person_id = ledger.person_id
    {%- endif %}
    where ledger.status in ('granted', 'revoked')
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
{%- if narrowed %}
union all
-- a marker per person recomputed, deleted by the post-hook
select
    person_id,
    cast(null as varchar) as channel,
    cast(null as varchar) as purpose,
    cast(null as varchar) as status,
    cast(null as boolean) as is_granted,
    cast(null as varchar) as decided_by,
    cast(null as varchar) as source,
    cast(null as varchar) as identifier_type,
    cast(null as varchar) as identifier_value,
    cast(null as timestamp) as decided_at
from touched
{%- endif %}
