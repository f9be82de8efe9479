{#- The identity graph's answer: every identifier, the person it belongs to (null for blocked or shared
    identifiers, which never identify one person), and why. The person map keeps the last row of an identifier
    that left the graph (its id stays issued), so an identifier blocked since it was resolved (say an email now
    seen with too many strong identifiers) takes nothing from it: null, as a build from scratch gives.

    Incremental (delete+insert by identifier_key; on Spark a table rebuilt whole). A row is its node's and its person
    map row's, so a run recomputes only the identifiers whose node int_identity__nodes wrote since this model's mark
    (the newest node stamp it read, in int_identity__marks) or removed since (its log <nodes>__removed, which the
    post-hook empties), and those the identity step listed in outflow_identity.changed_identifiers (every person map
    row it writes, and every identifier that entered or left the graph). The list is emptied by
    int_identity__signature_persons' post-hook, which runs after this model, and only when this model read it in the
    same dbt invocation (the post-hook here stores that invocation's stamp as the mark `listed`), so no reader misses
    a row. An identifier recomputed that is no node any more is written without a type and deleted by the post-hook.
    Everything is recomputed without a mark, when the list holds its row for every identifier, or when no node is as
    old as the mark (the nodes were rebuilt whole).

    `written_at` is the run that last wrote the row. As a run replaces or deletes its identifiers, its strategy
    (outflow_identifiers_replace) logs each one's stored person in int_identity__identifiers_removed (identifier_key,
    person_id, removed_at: the run's stamp), so that dim_profiles can recompute only the persons of the rows written
    since its mark and those the log names (the person an identifier left); dim_profiles drops what it has read. A
    run that recomputes everything logs nothing: it stamps every row, and dim_profiles then reads every person. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='identifier_key',
    incremental_strategy='outflow_identifiers_replace',
    on_schema_change='fail',
    tags=['derived'],
    meta={'outflow_layout_column': 'written_at'},
    pre_hook=([] if target.type == 'spark' else [
        "{{ outflow_written_keys_reset() }}",
        "{{ outflow_identity_create_logs() }}",
        "{{ outflow_identity_identifiers_create_removed() }}",
        "{{ outflow_identity_identifiers_prepare() }}"]),
    post_hook=([] if target.type == 'spark' else [
        "delete from {{ this }} where identifier_type is null",
        "delete from {{ outflow_identity_log('int_identity__nodes__removed') }}",
        "{{ outflow_identity_identifiers_marks() }}"])
) }}

{%- set narrowed = outflow_identity_identifiers_narrowed() %}
{%- set nodes = ref('int_identity__nodes') %}
{%- set map = source('outflow_identity', 'person_map') %}

with
{%- if narrowed %}
changed as (
    {{ outflow_identity_identifiers_changed() | indent(4) }}
),

nodes as (
    select nodes.* from {{ nodes }} as nodes inner join changed using (identifier_key)
),

map as (
    select map.* from {{ map }} as map inner join changed using (identifier_key)
),
{%- else %}
nodes as (
    select * from {{ nodes }}
),

map as (
    select * from {{ map }}
),
{%- endif %}

identifiers as (
    select
        nodes.identifier_type,
        nodes.identifier_value,
        nodes.identifier_key,
        case when nodes.block_reason is null then map.person_id end as person_id,
        coalesce(nodes.block_reason is null and map.is_shared, false) as is_shared,
        coalesce(
            nodes.block_reason, map.shared_reason, case when map.is_shared then 'shared by several people' end
        ) as block_reason,
        case when nodes.block_reason is null then map.cluster_size end as cluster_size,
        nodes.first_seen_at,
        nodes.last_seen_at,
        nodes.occurrences,
        {{ outflow_identity_stamp('written_at') }} as written_at
    from nodes
    left join map
        using (identifier_key)
)

select * from identifiers
{%- if narrowed %}
union all
-- an identifier recomputed that is no node: written without a type, deleted by the post-hook
select
    cast(null as varchar), cast(null as varchar), changed.identifier_key, cast(null as varchar), false,
    cast(null as varchar), cast(null as bigint), cast(null as timestamp), cast(null as timestamp),
    cast(null as bigint), {{ outflow_identity_stamp('written_at') }}
from changed
where changed.identifier_key not in (select identifier_key from nodes)
{%- endif %}
