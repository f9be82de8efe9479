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
    not a struct of three, which matters when the aggregate spills (docs/identity.md, "The signature persons and
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
    consent event's staged identifier (its signature, which groups every event of it). The pre-hook writes this
    run's beside the kept ones (<this>__fingerprints_now), the daily query restages only the records found on one
    side (new, changed in place, or gone), and the post-hook puts this run's in place of the kept ones. -#}
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

{#- The fingerprints of every CRM contact, order and consent event now. A consent event's staged identifier is the
    kept one when its fingerprint is kept (unchanged), else it is restaged (`narrowed`; stg_consent_events_select
    with the keys of the events not kept); without kept fingerprints every event is read through the view. -#}
{% macro outflow_identity_record_fingerprints(narrowed) -%}
    {%- set crm_columns = ["'crm'"] -%}
    {%- for c in ['contact_id', 'email', 'phone', 'country', 'updated_at'] %}
    {%- do crm_columns.append('crm.' ~ c) %}
    {%- endfor -%}
    {%- set order_columns = ["'order'"] -%}
    {%- for c in ['order_id', 'email', 'phone', 'user_id', 'ordered_at'] %}
    {%- do order_columns.append('orders.' ~ c) %}
    {%- endfor -%}
    {%- set consent_columns = ["'consent'"] -%}
    {%- for c in ['event_id', 'identifier_type', 'identifier', 'occurred_at'] %}
    {%- do consent_columns.append('consent.' ~ c) %}
    {%- endfor -%}
    {%- set kept = outflow_identity_fingerprints() -%}
select
    'crm' as source, crm.contact_id as record_key, {{ profiles_fingerprint(crm_columns) }} as fingerprint,
    'email' as identifier_type, {{ normalize_email('crm.email') }} as identifier_value
from {{ source('raw', 'crm_contacts') }} as crm
union all
select
    'order', orders.order_id, {{ profiles_fingerprint(order_columns) }},
    cast(null as varchar), cast(null as varchar)
from {{ source('raw', 'orders') }} as orders
union all
select
    'consent', consent.event_id, consent.fingerprint,
    {%- if narrowed %}
    case when kept.fingerprint is null then staged.identifier_type else kept.identifier_type end,
    case when kept.fingerprint is null then staged.identifier_value else kept.identifier_value end
    {%- else %}
    staged.identifier_type, staged.identifier_value
    {%- endif %}
from (
    select consent.event_id, {{ profiles_fingerprint(consent_columns) }} as fingerprint
    from {{ source('raw', 'consent_events') }} as consent
) as consent
{%- if narrowed %}
left join {{ kept }} as kept on kept.fingerprint = consent.fingerprint
left join ({{ stg_consent_events_select(
    'select consent.event_id from ' ~ source('raw', 'consent_events') ~ ' as consent where not exists ('
    ~ 'select 1 from ' ~ kept ~ ' as kept where kept.fingerprint = ' ~ profiles_fingerprint(consent_columns) ~ ')'
) }}) as staged
{%- else %}
left join {{ ref('stg_consent__events') }} as staged
{%- endif %}
    on staged.event_id = consent.event_id
{%- endmacro %}

{#- int_identity__signatures' pre-hook: this run's fingerprints, for the query to compare with the kept ones -#}
{% macro outflow_identity_fingerprints_prepare() -%}
    drop table if exists {{ outflow_identity_fingerprints('_now') }};
    create table {{ outflow_identity_fingerprints('_now') }} as
    {{ outflow_identity_record_fingerprints(outflow_identity_signatures_narrowed()) }}
{%- endmacro %}

{#- int_identity__signatures' post-hook: this run's fingerprints kept in place of the last run's -#}
{% macro outflow_identity_fingerprints_keep() -%}
    drop table if exists {{ outflow_identity_fingerprints() }};
    alter table {{ outflow_identity_fingerprints('_now') }} rename to {{ this.identifier }}__fingerprints
{%- endmacro %}
