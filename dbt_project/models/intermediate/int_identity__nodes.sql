{#- One row per distinct identifier, with the reason it is blocked from identity matching, if any. Checked on
    the normalized value, in this order:
    - a known junk value (seed identity_blocklist, exact) or a junk pattern (seed identity_junk_patterns,
      a regular expression matched against the whole value, case-insensitively; for phones against the number
      without its extension, so it holds in every country code);
    - a role address shared by a whole company (var role_account_pattern, with suffixes such as info.uk@,
      sales.team@, admin2@);
    - a value shared in the data: seen in records with more distinct strong identifiers (var
      identity_strong_types) than var identity_max_strong_links. A blocked value never creates an edge. -#}
with occurrences as (
    select * from {{ ref('int_identity__occurrences') }}
),

nodes as (
    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as occurrences
    from occurrences
    group by 1, 2
),

patterns as (
    select identifier_type, '^(?:' || pattern || ')$' as pattern, reason
    from {{ ref('identity_junk_patterns') }}
),

pattern_hits as (
    select nodes.identifier_type, nodes.identifier_value, min(patterns.reason) as reason
    from nodes
    inner join patterns
        on patterns.identifier_type = nodes.identifier_type
        and {{ outflow_regex_contains("lower(split_part(nodes.identifier_value, ';', 1))", 'patterns.pattern') }}
    group by 1, 2
),

strong as (
    select distinct record_id, identifier_type, identifier_value
    from occurrences
    where identifier_type in ({% for t in var('identity_strong_types') %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

strong_links as (
    -- distinct strong identifiers each value shares a record with
    select a.identifier_type, a.identifier_value, count(distinct b.identifier_type || ':' || b.identifier_value) as n
    from occurrences as a
    inner join strong as b
        on b.record_id = a.record_id
        and not (b.identifier_type = a.identifier_type and b.identifier_value = a.identifier_value)
    group by 1, 2
    having count(distinct b.identifier_type || ':' || b.identifier_value) > {{ var('identity_max_strong_links') }}
)

select
    nodes.*,
    nodes.identifier_type || ':' || nodes.identifier_value as identifier_key,
    case
        when blocklist.identifier_value is not null then blocklist.reason
        when pattern_hits.reason is not null then pattern_hits.reason
        when nodes.identifier_type = 'email'
            and {{ outflow_regex_full_match("split_part(nodes.identifier_value, '@', 1)", var('role_account_pattern') ~ '([._-][a-z0-9]+|[0-9]+)?') }}
            then 'role account'
        when strong_links.n is not null
            then 'shared: seen with ' || cast(strong_links.n as varchar) || ' strong identifiers'
    end as block_reason
from nodes
left join (
    -- an empty value in the seed is the text 'null' (see the seed's description)
    select identifier_type, coalesce(identifier_value, 'null') as identifier_value, reason
    from {{ ref('identity_blocklist') }}
) as blocklist
    on blocklist.identifier_type = nodes.identifier_type and blocklist.identifier_value = nodes.identifier_value
left join pattern_hits
    on pattern_hits.identifier_type = nodes.identifier_type and pattern_hits.identifier_value = nodes.identifier_value
left join strong_links
    on strong_links.identifier_type = nodes.identifier_type and strong_links.identifier_value = nodes.identifier_value
