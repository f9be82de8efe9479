{#- Fuzzy duplicates as identifier edges: each accepted pair of the fuzzy stage (outflow/identity_fuzzy.py, Splink;
    source outflow_identity.fuzzy_links) joins one usable identifier of each record, so int_identity__edges links
    the two records' identifiers. Empty when the stage is switched off (its source table is then absent). -#}
-- depends_on: {{ ref('int_identity__signature_occurrences') }}, {{ ref('int_identity__nodes') }}
{%- set fuzzy_source = source('outflow_identity', 'fuzzy_links') %}
{%- set fuzzy = load_relation(fuzzy_source) if execute else none %}
{%- if fuzzy is none %}
select
    cast(null as varchar) as a, cast(null as varchar) as b, cast(null as double precision) as match_weight,
    cast(null as timestamp) as seen_at, cast(null as varchar) as source_record
where 1 = 0
{%- else %}
with anchors as (
    -- the record's smallest usable identifier: the record's identifiers are already linked to it. The fuzzy
    -- stage links CRM contacts and orders, which are one signature per record (signature_id = record id)
    select
        occurrences.signature_id as record_id,
        min(nodes.identifier_key) as identifier_key,
        max(occurrences.last_seen_at) as observed_at
    from {{ ref('int_identity__signature_occurrences') }} as occurrences
    inner join {{ ref('int_identity__nodes') }} as nodes
        using (identifier_type, identifier_value)
    where nodes.block_reason is null and occurrences.source in ('crm', 'order')
    group by occurrences.signature_id
),

pairs as (
    select
        l.identifier_key as key_l, r.identifier_key as key_r, links.match_weight,
        greatest(l.observed_at, r.observed_at) as seen_at, links.record_id_l as source_record
    from {{ fuzzy_source }} as links
    inner join anchors as l on l.record_id = links.record_id_l
    inner join anchors as r on r.record_id = links.record_id_r
    where l.identifier_key <> r.identifier_key
)

select
    case when key_l < key_r then key_l else key_r end as a,
    case when key_l < key_r then key_r else key_l end as b,
    max(match_weight) as match_weight,
    max(seen_at) as seen_at,
    min(source_record) as source_record
from pairs
group by 1, 2
{%- endif %}
