{#- Null-safe equality of a record's natural columns with its identity signature's (int_identity__signature_persons),
    written so that it hash-joins on every engine (`is not distinct from` does not on PostgreSQL): each column is
    compared coalesced to '' and by its null flag, so a null matches only a null and '' only ''. -#}
{% macro outflow_same_signature(left, right, columns) -%}
{%- for c in columns -%}
coalesce({{ left }}.{{ c }}, '') = coalesce({{ right }}.{{ c }}, '')
        and ({{ left }}.{{ c }} is null) = ({{ right }}.{{ c }} is null)
{%- if not loop.last %}
        and {% endif -%}
{%- endfor -%}
{%- endmacro %}

{#- In an aggregate over a signature's identifiers: the person of the first by (rank, type, value), the strongest
    (int_identity__signature_persons). The three make a total order, as a signature's identifiers are distinct.
    DuckDB's arg_min by one string, the rank's digit, the type, ':' and the value: compared byte by byte, it orders
    as the three do (a one-digit rank; no type is a prefix of another), and the aggregate's state is one string,
    not a struct of three, which matters when the aggregate spills (docs/identity-performance.md, "The signature persons and
    the identity step at 10M identifiers"); Spark's min_by by a struct compared field by field; PostgreSQL, which
    has neither, takes the first of the persons ordered so. -#}
{% macro outflow_identity_strongest_person(person, rank, type, value) -%}
    {{ return(adapter.dispatch('outflow_identity_strongest_person')(person, rank, type, value)) }}
{%- endmacro %}

{% macro default__outflow_identity_strongest_person(person, rank, type, value) -%}
    arg_min({{ person }}, cast({{ rank }} as varchar) || {{ type }} || ':' || {{ value }})
{%- endmacro %}

{% macro spark__outflow_identity_strongest_person(person, rank, type, value) -%}
    min_by({{ person }}, struct({{ rank }} as r, {{ type }} as t, {{ value }} as v))
{%- endmacro %}

{% macro postgres__outflow_identity_strongest_person(person, rank, type, value) -%}
    (array_agg({{ person }} order by {{ rank }}, {{ type }}, {{ value }}))[1]
{%- endmacro %}

{#- The identifiers a row of int_identity__signatures holds side by side, as (identifier type, column, condition):
    the row holds that identifier when the condition holds (none: when the column is not null). A consent signature
    holds one identifier of any type, in its own identifier_type and identifier_value columns, so it is not listed.
    int_identity__signature_occurrences unpivots these columns, and int_identity__pairs from scratch takes each two of
    them: one list, so both read the same identifiers. -#}
{% macro outflow_identity_signature_identifiers() -%}
    {{ return([
        ('crm_id', 'record_key', "source = 'crm'"),
        ('email', 'email_canonical', none),
        ('phone', 'phone', none),
        ('cookie', 'cookie_id', none),
        ('user_id', 'user_id', none),
    ]) }}
{%- endmacro %}

{#- When a signature's row holds the identifier (type, column, condition) of outflow_identity_signature_identifiers -#}
{% macro outflow_identity_signature_holds(column, condition) -%}
    {{ condition if condition else column ~ ' is not null' }}
{%- endmacro %}

{#- The identifier type of slot `slot` (a SQL expression, 1-based) of outflow_identity_signature_identifiers' list,
    `otherwise` beyond it (none: null), as one `case`: int_identity__signature_occurrences and int_identity__pairs
    number the identifier columns the same way -#}
{% macro outflow_identity_slot_type(slot, otherwise=none) -%}
    case {{ slot }}
        {%- for identifier_type, column, condition in outflow_identity_signature_identifiers() %} when {{ loop.index }} then '{{ identifier_type }}'
        {%- endfor %}{% if otherwise %} else {{ otherwise }}{% endif %} end
{%- endmacro %}

{#- An identifier's key, the graph's node: its type, ':' and its value (SQL expressions). -#}
{% macro outflow_identity_key(identifier_type, identifier_value) -%}
    {{ identifier_type }} || ':' || {{ identifier_value }}
{%- endmacro %}

{#- int_identity__signatures' record fingerprints (docs/incremental.md, "The identity signatures' CRM, order and
    consent records on a daily build"): a plain table beside the model, <this>__fingerprints (source, record_key,
    fingerprint, identifier_type, identifier_value), one row per CRM contact, order and consent event as the model
    last read it. The fingerprint (profiles_fingerprint) is of the record's source, key and the raw columns its
    signature is staged from, read from the raw tables without staging them (the lookups staging joins give a raw
    value the same result every run; a change of them needs --full-refresh, as for the golden record's
    fingerprints). The identifier ties a record to the others its signature depends on: a CRM contact's email as
    stg_shop__order_countries matches it (an order's phone is read in the country of its buyer's CRM contacts), a
    consent event's staged identifier (its signature groups every event of it).

    A daily run's pre-hook writes the records whose fingerprint is found on one side only, this run's or the kept
    ones (new, changed in place, or gone), as <this>__fingerprints_changed (the kept side's fingerprint and
    identifier beside this run's; a consent event new or changed is restaged for its identifier); the query
    restages those, and the post-hook replaces their kept rows with this run's. A build from scratch (or a run
    without kept fingerprints) writes every record's fingerprint as the kept ones and no record changed. -#}
{% macro outflow_identity_fingerprints(suffix='') -%}
    {{ this.schema }}.{{ this.identifier }}__fingerprints{{ suffix }}
{%- endmacro %}

{#- Whether this run restages only the records whose fingerprint changed: an incremental run with the fingerprints
    of the last one (else every record is restaged and compared with its stored signature). -#}
{% macro outflow_identity_signatures_narrowed() -%}
    {%- if not execute or not is_incremental() -%}
    {{ return(false) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema,
        identifier=this.identifier ~ '__fingerprints') is not none) }}
{%- endmacro %}

{#- The fingerprints of every CRM contact, order and consent event now; a consent event's staged identifier only
    with `staged_consent` (every event read through the view). -#}
{% macro outflow_identity_record_fingerprints(staged_consent) -%}
    {%- set columns = {
        'crm': ['contact_id', 'email', 'phone', 'country', 'updated_at'],
        'order': ['order_id', 'email', 'phone', 'user_id', 'ordered_at'],
        'consent': ['event_id', 'identifier_type', 'identifier', 'occurred_at'],
    } -%}
    {%- set fingerprint = {} -%}
    {%- for source, alias in [('crm', 'crm'), ('order', 'orders'), ('consent', 'consent')] -%}
    {%- set values = ["'" ~ source ~ "'"] -%}
    {%- for c in columns[source] %}{% do values.append(alias ~ '.' ~ c) %}{% endfor -%}
    {%- do fingerprint.update({source: profiles_fingerprint(values)}) -%}
    {%- endfor -%}
select
    'crm' as source, crm.contact_id as record_key, {{ fingerprint.crm }} as fingerprint,
    'email' as identifier_type, {{ normalize_email('crm.email') }} as identifier_value
from {{ source('raw', 'crm_contacts') }} as crm
union all
select 'order', orders.order_id, {{ fingerprint.order }}, cast(null as varchar), cast(null as varchar)
from {{ source('raw', 'orders') }} as orders
union all
select
    'consent', consent.event_id, {{ fingerprint.consent }},
    {%- if staged_consent %}
    staged.identifier_type, staged.identifier_value
    {%- else %}
    cast(null as varchar), cast(null as varchar)
    {%- endif %}
from {{ source('raw', 'consent_events') }} as consent
{%- if staged_consent %}
left join {{ ref('stg_consent__events') }} as staged on staged.event_id = consent.event_id
{%- endif %}
{%- endmacro %}

{#- int_identity__signatures' pre-hook: the records changed since the last run (a daily run); else every record's
    fingerprint, written in place of the kept ones, and no record changed -#}
{% macro outflow_identity_fingerprints_prepare() -%}
    {%- set changed = outflow_identity_fingerprints('_changed') -%}
    drop table if exists {{ changed }};
    {%- if outflow_identity_signatures_narrowed() %}
    create table {{ changed }} as
    with records_changed as (
        select
            coalesce(records_now.source, kept.source) as source,
            coalesce(records_now.record_key, kept.record_key) as record_key,
            records_now.fingerprint, kept.fingerprint as kept_fingerprint,
            records_now.identifier_type, records_now.identifier_value,
            kept.identifier_type as kept_identifier_type, kept.identifier_value as kept_identifier_value
        from ({{ outflow_identity_record_fingerprints(false) }}) as records_now
        full outer join {{ outflow_identity_fingerprints() }} as kept on kept.fingerprint = records_now.fingerprint
        where records_now.fingerprint is null or kept.fingerprint is null
    )
    select
        changed.source, changed.record_key, changed.fingerprint, changed.kept_fingerprint,
        case when changed.source = 'consent' then staged.identifier_type else changed.identifier_type end
            as identifier_type,
        case when changed.source = 'consent' then staged.identifier_value else changed.identifier_value end
            as identifier_value,
        changed.kept_identifier_type, changed.kept_identifier_value
    from records_changed as changed
    -- a consent event new or changed: its staged identifier
    left join ({{ stg_consent_events_select(
        "select record_key from records_changed where source = 'consent' and fingerprint is not null"
    ) }}) as staged
        on changed.source = 'consent' and changed.fingerprint is not null and staged.event_id = changed.record_key
    {%- else %}
    drop table if exists {{ outflow_identity_fingerprints() }};
    create table {{ outflow_identity_fingerprints() }} as
    {{ outflow_identity_record_fingerprints(true) }};
    create table {{ changed }} as
    select
        source, record_key, fingerprint, fingerprint as kept_fingerprint, identifier_type, identifier_value,
        identifier_type as kept_identifier_type, identifier_value as kept_identifier_value
    from {{ outflow_identity_fingerprints() }}
    where 1 = 0
    {%- endif %}
{%- endmacro %}

{#- int_identity__signatures' post-hook: the kept rows of the records changed replaced with this run's -#}
{% macro outflow_identity_fingerprints_keep() -%}
    {%- set changed = outflow_identity_fingerprints('_changed') -%}
    delete from {{ outflow_identity_fingerprints() }}
    where fingerprint in (select kept_fingerprint from {{ changed }} where kept_fingerprint is not null);
    insert into {{ outflow_identity_fingerprints() }} (source, record_key, fingerprint, identifier_type, identifier_value)
    select source, record_key, fingerprint, identifier_type, identifier_value from {{ changed }}
    where fingerprint is not null;
    drop table {{ changed }}
{%- endmacro %}
