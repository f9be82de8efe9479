{#- The person behind each identity signature, and so behind each of its records: the person of its strongest
    identifier (a CRM id, then a user id, an email, a phone, a cookie; then the smallest value), so a form filled
    on a shared cookie belongs to the email typed in it. Identifiers that identify nobody (blocked, shared) are
    skipped. A build from scratch takes it in one aggregate per signature (outflow_identity_strongest_person: the
    person of the identifier first by strength, type and value), without numbering every identifier first, and
    only over the signatures with several identifiers (a signature with one, most of them, takes its person with no
    grouping: `signature_identifiers`, how many its signature has, rides on each occurrence); a daily
    run ranks the few signatures it reads again with a window per signature (the same order: a signature's
    identifiers are distinct). Consumers join their
    records on the signature's natural columns (outflow_same_signature: null matches null): web events on
    (cookie_id, user_id, email_canonical), email events on email_canonical, consent events on (identifier_type,
    identifier_value), CRM contacts and orders on record_key (contact_id, order_id).
    Incremental (delete+insert on signature_id, keeping the keys written for the daily `unique` test,
    outflow_unique_written; on Spark a table rebuilt whole): `person_changed_at` stamps when a
    signature's person last changed: a new signature, or one whose person (or natural columns) differ from the
    stored row, takes this run's stamp (outflow_run_stamp, and later than any stored stamp); any other row keeps
    its stamp, and its other columns (records) are refreshed. A stored signature that no longer exists, or no
    longer has a person, is removed and logged in int_identity__signature_persons_removed (with its stamp), so
    fct_events re-reads only the events of signatures that changed since it last ran (docs/incremental.md). A
    table built before the stamp existed gains the column (on_schema_change) and every row is stamped by that run.
    A daily run ranks again only the signatures that can have another row: those int_identity__signatures wrote
    since this model's mark (written_at, which their occurrences carry: new, or with other natural columns,
    identifiers or records, a CRM contact's or an order's phone changed in place included), those it removed since
    (its log int_identity__signatures__removed_for_persons, which the post-hook empties), and those holding an
    identifier the identity step listed as changed since this model last ran (outflow_identity.changed_identifiers:
    its person map row written, or the identifier entered or left the graph; the post-hook empties the list). Only
    those are compared with their stored rows. The post-hook stores the mark, the newest occurrence stamp read
    (int_identity__marks). Without a mark or the list, when the list stands for every identifier, or when no
    occurrence is as old as the mark (the signatures were rebuilt whole, which logs no removal, and the occurrences
    with them), every signature is ranked again and compared with its stored row. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='signature_id',
    incremental_strategy='outflow_delete_insert',
    on_schema_change='append_new_columns',
    tags=['derived'],
    pre_hook=([] if target.type == 'spark' else [
        "{{ outflow_written_keys_reset() }}", "{{ outflow_identity_create_logs() }}"]),
    post_hook=([] if target.type == 'spark' else [
        "{{ outflow_log_removed_signatures() }}",
        "{{ outflow_identity_clear_changed_identifiers() }}",
        "{{ outflow_watermark_set({'occurrences': ['int_identity__signature_occurrences', 'written_at']},
            'int_identity__marks') }}",
        "delete from {{ outflow_identity_log('int_identity__signatures__removed_for_persons') }}",
    ])
) }}

{%- set columns = ['source', 'signature_id', 'person_id', 'record_key', 'cookie_id', 'user_id', 'email_canonical',
    'identifier_type', 'identifier_value', 'records'] %}
{%- set natural = ['source', 'record_key', 'cookie_id', 'user_id', 'email_canonical', 'identifier_type',
    'identifier_value'] %}
{%- set narrowed = false %}
{%- if is_incremental() %}
{#- a table built before the stamp existed: every row is stamped by this run -#}
{%- set stamped = 'person_changed_at' in (adapter.get_columns_in_relation(this) | map(attribute='name')
    | map('lower') | list) %}
{%- set listed = load_relation(source('outflow_identity', 'changed_identifiers')) %}
{%- set mark = outflow_watermark('occurrences', 'int_identity__marks') %}
{%- if execute and stamped and listed is not none %}
{%- set state = run_query('select (select count(*) from ' ~ listed ~ ' where identifier_type is null), '
    ~ '(select count(*) from ' ~ ref('int_identity__signature_occurrences') ~ ' where written_at <= ' ~ mark ~ ')'
    ).rows[0] %}
{%- set narrowed = state[0] == 0 and state[1] > 0 %}
{%- endif %}
{%- endif %}

with
{%- if narrowed %}
listed_signatures as (
    -- the signatures holding an identifier the identity step listed as changed
    select occurrences.signature_id
    from {{ ref('int_identity__signature_occurrences') }} as occurrences
    inner join {{ listed }} as listed
        on listed.identifier_type = occurrences.identifier_type
        and listed.identifier_value = occurrences.identifier_value
),

touched_occurrences as materialized (
    -- the identifiers of the signatures ranked again: those written since the mark (an occurrence carries its
    -- signature's stamp, and the newest stamps are read alone) and those holding a listed identifier
    select signature_id, identifier_type, identifier_value
    from {{ ref('int_identity__signature_occurrences') }}
    where written_at > {{ mark }}
    union
    select signature_id, identifier_type, identifier_value
    from {{ ref('int_identity__signature_occurrences') }}
    where signature_id in (select signature_id from listed_signatures)
),

touched as (
    -- the signatures compared with their stored rows: those ranked again and those removed since the mark
    select signature_id from touched_occurrences
    union
    select signature_id from {{ outflow_identity_log('int_identity__signatures__removed_for_persons') }}
),

touched_signatures as (
    -- the signatures ranked again, as they are: those written since the mark, then those only listed
    select * from {{ ref('int_identity__signatures') }} where written_at > {{ mark }}
    union all
    select * from {{ ref('int_identity__signatures') }}
    where written_at <= {{ mark }} and signature_id in (select signature_id from listed_signatures)
),

ranked as (
    -- the identifiers of the signatures ranked again that identify a person, strongest first per signature (a
    -- signature's identifiers are distinct, so the order is total)
    select
        occurrences.signature_id,
        identifiers.person_id,
        row_number() over (
            partition by occurrences.signature_id
            order by
                case occurrences.identifier_type
                    when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3 when 'phone' then 4 else 5
                end,
                occurrences.identifier_type,
                occurrences.identifier_value
        ) as strength
    from touched_occurrences as occurrences
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        on identifiers.identifier_type = occurrences.identifier_type
        and identifiers.identifier_value = occurrences.identifier_value
    where identifiers.person_id is not null
),

strongest as (
    select signature_id, person_id from ranked where strength = 1
),
{%- else %}
strongest as (
    -- a signature with one identifier takes its person as it is (signature_identifiers: how many identifiers the
    -- signature has, its rows among the occurrences); one with several, the person of its strongest identifier, in
    -- one aggregate over its identifiers that identify a person (a signature's identifiers are distinct, so the
    -- order is total)
    select occurrences.signature_id, identifiers.person_id
    from {{ ref('int_identity__signature_occurrences') }} as occurrences
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        using (identifier_type, identifier_value)
    where identifiers.person_id is not null and occurrences.signature_identifiers = 1
    union all
    select
        occurrences.signature_id,
        {{ outflow_identity_strongest_person(
            'identifiers.person_id',
            "case identifiers.identifier_type when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3 "
                ~ "when 'phone' then 4 else 5 end",
            'identifiers.identifier_type',
            'identifiers.identifier_value') }} as person_id
    from {{ ref('int_identity__signature_occurrences') }} as occurrences
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        using (identifier_type, identifier_value)
    where identifiers.person_id is not null and occurrences.signature_identifiers > 1
    group by occurrences.signature_id
),
{%- endif %}

current_persons as (
    select
        signatures.source,
        signatures.signature_id,
        strongest.person_id,
        signatures.record_key,
        signatures.cookie_id,
        signatures.user_id,
        signatures.email_canonical,
        signatures.identifier_type,
        signatures.identifier_value,
        signatures.records
    from strongest
    inner join {{ 'touched_signatures' if narrowed else ref('int_identity__signatures') }} as signatures
        on signatures.signature_id = strongest.signature_id
)

{% if is_incremental() %}
{%- set stored_stamp = 'stored.person_changed_at' if stamped else 'cast(null as timestamp)' %}
{#- later than every stored stamp even if the clock went back, so a model's mark never hides a change -#}
{%- set stamp = ("greatest(" ~ outflow_run_stamp() ~ ", (select max(person_changed_at) from " ~ this
    ~ ") + interval '1 second')") if stamped else outflow_run_stamp() %}
-- every signature, current or stored: a stored one that is gone (or has no person) gets a null person_id, then is
-- logged and removed by the post-hook (outflow_log_removed_signatures)
select
    {%- for c in columns %}
    {% if c == 'person_id' %}current_persons.person_id{% else -%}
    case when current_persons.signature_id is null then stored.{{ c }} else current_persons.{{ c }} end
    {%- endif %} as {{ c }},
    {%- endfor %}
    case
        when current_persons.signature_id is null or stored.signature_id is null
            {%- for c in ['person_id'] + natural %}
            or stored.{{ c }} is distinct from current_persons.{{ c }}
            {%- endfor %}
            or {{ stored_stamp }} is null
            then {{ stamp }}
        else {{ stored_stamp }}
    end as person_changed_at
from current_persons
full outer join (
    select * from {{ this }}
    {%- if narrowed %}
    where signature_id in (select signature_id from touched)
    {%- endif %}
) as stored
    on stored.signature_id = current_persons.signature_id
where current_persons.signature_id is null or stored.signature_id is null or {{ stored_stamp }} is null
    {%- for c in columns if c != 'signature_id' %}
    or stored.{{ c }} is distinct from current_persons.{{ c }}
    {%- endfor %}
{% else %}
select current_persons.*, {{ outflow_run_stamp() }} as person_changed_at from current_persons
{% endif %}
