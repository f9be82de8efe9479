{#- Every normalized identifier of every identity signature (int_identity__signatures), with the signature's
    record count and first and last sighting: the narrow table the graph is built on (int_identity__pairs,
    __nodes, __fuzzy_links, __signature_persons). The identifiers of one signature co-occur. Summed over the
    signatures, an identifier's records and sightings are those of the per-record occurrences
    (int_identity__occurrences, a view). `signature_identifiers` is how many identifiers its signature has (its
    rows here), so int_identity__pairs takes the signatures with several without grouping them. -#}
with signatures as (
    select
        *,
        case when source in ('crm', 'consent') then 1 else 0 end
        {%- for column in ['email_canonical', 'phone', 'cookie_id', 'user_id'] %}
        + case when {{ column }} is not null then 1 else 0 end
        {%- endfor %} as signature_identifiers
    from {{ ref('int_identity__signatures') }}
)

select source, signature_id, 'crm_id' as identifier_type, record_key as identifier_value, records, first_seen_at, last_seen_at,
    signature_identifiers
from signatures where source = 'crm'
union all
{%- for identifier_type, column in [('email', 'email_canonical'), ('phone', 'phone'), ('cookie', 'cookie_id'),
    ('user_id', 'user_id')] %}
select source, signature_id, '{{ identifier_type }}', {{ column }}, records, first_seen_at, last_seen_at,
    signature_identifiers
from signatures where {{ column }} is not null
union all
{%- endfor %}
select source, signature_id, identifier_type, identifier_value, records, first_seen_at, last_seen_at,
    signature_identifiers
from signatures where source = 'consent'
