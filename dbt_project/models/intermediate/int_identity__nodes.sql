{#- One row per distinct identifier, with the reason it is blocked from identity matching, if any. Checked on
    the normalized value, in this order:
    - a known junk value (seed identity_blocklist, exact) or a junk pattern (seed identity_junk_patterns,
      a regular expression matched against the whole value, case-insensitively; for phones against the number
      without its extension, so it holds in every country code);
    - a role address shared by a whole company (var role_account_pattern, with suffixes such as info.uk@,
      sales.team@, admin2@);
    - a value shared in the data: seen in records with more distinct strong identifiers (var
      identity_strong_types) than var identity_max_strong_links. A blocked value never creates an edge.
    The junk patterns and the role check (regular expressions) run only on the identifiers the last build did not
    see or found blocked: one it found usable matched none of them then. The rules a build followed (the patterns,
    the blocklist and the shared check's vars) are kept beside the table (post-hook, <this>__patterns); when they
    differ, or on a full refresh (tag `derived`) or on Spark, every identifier is checked.

    Incremental (delete+insert by identifier_key; on Spark a table rebuilt whole): a run recomputes only the
    identifiers of the signature occurrences rewritten since its mark (the newest occurrence stamp it read, in
    int_identity__marks), as they are now and as they were (the occurrences' log
    <occurrences>__replaced_for_nodes). No other identifier can have another row: its occurrences are those of
    signatures no run rewrote, and the pairs the shared check counts change only with the signatures that hold
    them (int_identity__pairs), whose identifiers are all recomputed. An identifier no signature holds any more is
    written with no occurrences, logged for int_identity__identifiers (<this>__removed) and deleted by the
    post-hook. `written_at` is the run that last wrote the row. Everything is recomputed when the rules changed,
    with no mark, or when no occurrence is as old as the mark (rebuilt whole): outflow_identity_nodes_narrowed. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='identifier_key',
    incremental_strategy='outflow_delete_insert',
    on_schema_change='fail',
    tags=['derived'],
    meta={'outflow_layout_column': 'written_at'},
    pre_hook=([] if target.type == 'spark' else [
        "{{ outflow_written_keys_reset() }}",
        "{{ outflow_identity_nodes_prepare() }}"]),
    post_hook=([] if target.type == 'spark' else [
        "{{ outflow_identity_nodes_finish() }}",
        "drop table if exists {{ outflow_identity_patterns_relation(this) }}",
        "create table {{ outflow_identity_patterns_relation(this) }} as {{ outflow_identity_node_rules() }}",
        "{{ outflow_watermark_set({'occurrences': ['int_identity__signature_occurrences', 'written_at']},
            'int_identity__marks') }}",
    ])
) }}

{#- the table the last build left (read before this one replaces it), if it followed this build's rules -#}
{%- set prior = outflow_identity_prior_nodes(this) %}
{#- whether only the identifiers of the occurrences rewritten since the mark are recomputed -#}
{%- set narrowed = outflow_identity_nodes_narrowed(this) %}
{%- set occurrences = ref('int_identity__signature_occurrences') %}

with
{%- if narrowed %}
{%- set mark = outflow_watermark('occurrences', 'int_identity__marks') %}
changed as (
    -- the identifiers of the occurrences rewritten since the mark, as they are and as they were
    select identifier_type, identifier_value from {{ occurrences }} where written_at > {{ mark }}
    union
    select identifier_type, identifier_value
    from {{ outflow_identity_log('int_identity__signature_occurrences__replaced_for_nodes') }}
),

changed_keys as (
    select identifier_type || ':' || identifier_value as identifier_key from changed
),
{%- endif %}

grouped as (
    -- an identifier's occurrences: the records of its signatures
    select
        identifier_type,
        identifier_value,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        cast(sum(records) as bigint) as occurrences
    from {{ occurrences }}
    {%- if narrowed %}
    inner join changed using (identifier_type, identifier_value)
    {%- endif %}
    group by 1, 2
),

nodes as (
    select * from grouped
    {%- if narrowed %}
    union all
    -- an identifier recomputed that no signature holds any more: no occurrences (deleted by the post-hook)
    select changed.identifier_type, changed.identifier_value, null, null, cast(0 as bigint)
    from changed
    left join grouped
        on grouped.identifier_type = changed.identifier_type and grouped.identifier_value = changed.identifier_value
    where grouped.identifier_type is null
    {%- endif %}
),

keyed as (
    -- each identifier's key, and whether the patterns and the role check run on it: on every one, or on those the
    -- last build did not find usable (new, or blocked then)
    select
        nodes.*,
        nodes.identifier_type || ':' || nodes.identifier_value as identifier_key,
        {%- if prior is not none %}
        usable_before.identifier_key is null as checked
        {%- else %}
        true as checked
        {%- endif %}
    from nodes
    {%- if prior is not none %}
    left join (select identifier_key from {{ prior }} where block_reason is null) as usable_before
        on usable_before.identifier_key = nodes.identifier_type || ':' || nodes.identifier_value
    {%- endif %}
),

{#- the seed's patterns are read when the model compiles and written into the SQL as constants, so each regular
    expression is compiled once rather than once per identifier (a pattern taken from a joined column is). They
    are tried in the order of their reasons, so the first that matches gives the smallest reason of those that
    match; a pattern without a reason blocks nothing. -#}
{%- set patterns_seed = ref('identity_junk_patterns') %}
{%- set patterns = [] %}
{%- if execute and load_relation(patterns_seed) is not none %}
    {%- set patterns = run_query(
        'select identifier_type, pattern, reason from ' ~ patterns_seed
        ~ ' where pattern is not null and reason is not null order by reason, identifier_type, pattern').rows %}
{%- endif %}

strong_links as (
    -- distinct strong identifiers each value is seen with in one record
    select identifier_key, count(*) as n
    from (
        select a as identifier_key, b as other from {{ ref('int_identity__pairs') }}
        {%- if narrowed %}
        where a in (select identifier_key from changed_keys)
        {%- endif %}
        union all
        select b, a from {{ ref('int_identity__pairs') }}
        {%- if narrowed %}
        where b in (select identifier_key from changed_keys)
        {%- endif %}
    ) as neighbours
    -- the other end's type is strong: its key starts with '<type>:' (a prefix compared, not the key split)
    where ({% for t in var('identity_strong_types') %}substr(other, 1, {{ t | length + 1 }}) = {{ outflow_sql_string(t ~ ":") }}{% if not loop.last %} or {% endif %}{% endfor %})
    group by identifier_key
    having count(*) > {{ var('identity_max_strong_links') }}
)

select
    keyed.identifier_type,
    keyed.identifier_value,
    keyed.first_seen_at,
    keyed.last_seen_at,
    keyed.occurrences,
    keyed.identifier_key,
    case
        when blocklist.identifier_value is not null then blocklist.reason
        {%- for p in patterns %}
        when keyed.checked and keyed.identifier_type = {{ outflow_sql_string(p[0]) }}
            and {{ outflow_regex_full_match("lower(split_part(keyed.identifier_value, ';', 1))", p[1]) }}
            then {{ outflow_sql_string(p[2]) }}
        {%- endfor %}
        when keyed.checked and keyed.identifier_type = 'email'
            and {{ outflow_regex_full_match("split_part(keyed.identifier_value, '@', 1)", var('role_account_pattern') ~ '([._-][a-z0-9]+|[0-9]+)?') }}
            then 'role account'
        when strong_links.n is not null
            then 'shared: seen with ' || cast(strong_links.n as varchar) || ' strong identifiers'
    end as block_reason,
    {{ outflow_identity_stamp('written_at') }} as written_at
from keyed
left join (
    -- an empty value in the seed is the text 'null' (see the seed's description)
    select identifier_type, coalesce(identifier_value, 'null') as identifier_value, reason
    from {{ ref('identity_blocklist') }}
) as blocklist
    on blocklist.identifier_type = keyed.identifier_type and blocklist.identifier_value = keyed.identifier_value
left join strong_links
    on strong_links.identifier_key = keyed.identifier_key
