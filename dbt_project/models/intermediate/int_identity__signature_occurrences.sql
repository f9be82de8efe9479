{#- Every normalized identifier of every identity signature (int_identity__signatures), with the signature's
    record count and first and last sighting: the narrow table the graph is built on (int_identity__pairs,
    __nodes, __fuzzy_links, __signature_persons). The identifiers of one signature co-occur. Summed over the
    signatures, an identifier's records and sightings are those of the per-record occurrences
    (int_identity__occurrences, a view). `signature_identifiers` is how many identifiers its signature has (its
    rows here), so int_identity__pairs takes the signatures with several without grouping them.

    Incremental (delete+insert by signature_id): a run rewrites the signatures stamped (`written_at`) after the
    newest stamp it holds, and removes those int_identity__signatures logged as removed (a row with no identifier,
    deleted by the post-hook, which then empties the log). Its pre-hook logs the identifiers it replaces, as they
    were, in <this>__replaced, for int_identity__pairs; and when every signature is newer than what it holds (the
    signatures were rebuilt whole), it empties the table first, so no signature gone since stays. On Spark a table
    rebuilt whole. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='signature_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['derived'],
    meta={'outflow_layout_column': 'written_at'},
    pre_hook=([] if target.type == 'spark' else [
        "{{ outflow_identity_occurrences_prepare(ref('int_identity__signatures')) }}"]),
    post_hook=([] if target.type == 'spark' else [
        "delete from {{ this }} where identifier_type is null",
        "delete from {{ outflow_identity_log('int_identity__signatures__removed') }}"])
) }}


{%- set held = outflow_identity_signature_identifiers() %}

with signatures as (
    select
        *,
        case when source = 'consent' then 1 else 0 end
        {%- for identifier_type, column, condition in held %}
        + case when {{ outflow_identity_signature_holds(column, condition) }} then 1 else 0 end
        {%- endfor %} as signature_identifiers
    from {{ ref('int_identity__signatures') }}
    {%- if is_incremental() %}
    where written_at > (select coalesce(max(written_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {%- endif %}
),

{#- each signature read once and unpivoted by a cross join with one slot per identifier column (a consent
    signature's own identifier last), rather than one filtered read per column of a CTE, which DuckDB would
    materialize: a copy of every signature -#}
unpivoted as (
    select
        source,
        signature_id,
        {{ outflow_identity_slot_type('slot.i', 'identifier_type') }} as identifier_type,
        case slot.i
            {%- for identifier_type, column, condition in held %} when {{ loop.index }} then {{ column }}
            {%- endfor %} else identifier_value
        end as identifier_value,
        records,
        first_seen_at,
        last_seen_at,
        signature_identifiers,
        written_at,
        case slot.i
            {%- for identifier_type, column, condition in held %}
            when {{ loop.index }} then {{ outflow_identity_signature_holds(column, condition) }}
            {%- endfor %}
            else source = 'consent'
        end as held
    from signatures
    cross join (values {% for i in range(1, held | length + 2) %}{{ ', ' if not loop.first }}({{ i }}){% endfor %}) as slot (i)
)

select source, signature_id, identifier_type, identifier_value, records, first_seen_at, last_seen_at,
    signature_identifiers, written_at
from unpivoted
where held
{%- if is_incremental() %}
union all
-- the signatures removed since: their stored rows are deleted, this row by the post-hook
select source, signature_id, null, null, 0, null, null, 0, written_at
from {{ outflow_identity_log('int_identity__signatures__removed') }}
{%- endif %}
