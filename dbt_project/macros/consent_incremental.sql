{#- The consent models' daily run (docs/incremental.md, "The consent ledger and dim_consent on a daily build"):
    int_consent__ledger rewrites the facts of the identifiers touched since it last ran, and dim_consent the persons
    whose ledger rows those touched. Their logs and marks, in the models' schema:
    - int_consent__changed_identifiers (identifier_type, identifier_value): the identity step's list of identifiers
      whose person may have changed (outflow_identity.changed_identifiers), copied at the start of every dbt command
      (on-run-start), before int_identity__signature_persons empties it; the ledger's post-hook empties the copy. A
      row with a null identifier_type stands for every identifier;
    - int_consent__touched_persons (person_id): the persons whose ledger rows the ledger wrote or removed, until
      dim_consent has recomputed them (its post-hook empties it); a null person_id stands for every person;
    - int_consent__marks (the layout of outflow_watermarks): what the ledger and int_consent__email_events last read.
    Not on Spark, where the consent models are tables rebuilt whole. -#}
{% macro consent_log(name) -%}
    {{ this.schema }}.{{ name }}
{%- endmacro %}

{% macro consent_create_logs() -%}
    create table if not exists {{ consent_log('int_consent__changed_identifiers') }} (
        identifier_type varchar, identifier_value varchar
    );
    create table if not exists {{ consent_log('int_consent__touched_persons') }} (person_id varchar)
{%- endmacro %}

{#- on-run-start: copy the identity step's list into the consent models' own, adding only the rows it lacks. The
    step writes the list between dbt commands and int_identity__signature_persons empties it within one, so every
    row reaches the copy before it is emptied. -#}
{% macro consent_copy_changed_identifiers() %}
    {% if execute and target.type != 'spark' %}
        {% set node = graph.sources['source.outflow.outflow_identity.changed_identifiers'] %}
        {% set listed = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) %}
        {% if listed is not none %}
            {% set copy = target.schema ~ '.int_consent__changed_identifiers' %}
            {% do run_query('create schema if not exists ' ~ target.schema) %}
            {% do run_query('create table if not exists ' ~ copy
                ~ ' (identifier_type varchar, identifier_value varchar)') %}
            {% do run_query('insert into ' ~ copy ~ ' (identifier_type, identifier_value) '
                ~ 'select identifier_type, identifier_value from ' ~ listed
                ~ ' except select identifier_type, identifier_value from ' ~ copy) %}
            {% do adapter.commit() %}
        {% endif %}
    {% endif %}
{% endmacro %}

{#- Whether this model's incremental run may rewrite only what its log names (`log`: int_consent__changed_identifiers
    for the ledger, int_consent__touched_persons for dim_consent): it has marks in int_consent__marks (its post-hook
    ran with this layout), and the log exists and holds no row that stands for everything (a null `column`).
    Otherwise its run recomputes every row (the pre-hook empties the table first). -#}
{% macro consent_narrowed(log, column) %}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set marks = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_consent__marks') -%}
    {%- set logged = adapter.get_relation(database=this.database, schema=this.schema, identifier=log) -%}
    {%- if marks is none or logged is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set state = run_query('select (select count(*) from ' ~ marks ~ " where model = '" ~ this.identifier
        ~ "'), (select count(*) from " ~ logged ~ ' where ' ~ column ~ ' is null)').rows[0] -%}
    {{ return(state[0] > 0 and state[1] == 0) }}
{% endmacro %}

{% macro consent_ledger_narrowed() %}
    {{ return(consent_narrowed('int_consent__changed_identifiers', 'identifier_type')) }}
{% endmacro %}

{% macro consent_dim_narrowed() %}
    {{ return(consent_narrowed('int_consent__touched_persons', 'person_id')) }}
{% endmacro %}

{#- A pre-hook of an incremental run that recomputes every row: the stored rows go first, so that a row no longer
    computed does not stay (delete+insert replaces only the keys it writes). -#}
{% macro consent_empty_unless(narrowed) -%}
    {%- if is_incremental() and not narrowed -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The ledger's post-hook. A narrowed run wrote, for each identifier it touched, a marker row (null ledger_id) with
    each person the identifier's stored rows had (or none): the persons of those identifiers, before and now, go to
    int_consent__touched_persons. A run that computed every fact (a build from scratch included) wrote one marker
    without identifier: it logs every person (a null). Then the markers leave the table, the copy of the changed
    identifiers is emptied, and the marks are set. -#}
{% macro consent_ledger_post_hook() -%}
    {{ consent_create_logs() }};
    insert into {{ consent_log('int_consent__touched_persons') }} (person_id)
    select distinct ledger.person_id
    from {{ this }} as ledger
    inner join (
        select distinct identifier_type, identifier_value from {{ this }} where ledger_id is null
    ) as touched
        on touched.identifier_type = ledger.identifier_type and touched.identifier_value = ledger.identifier_value
    where ledger.person_id is not null
    union all
    select cast(null as varchar)
    from {{ this }}
    where ledger_id is null and identifier_type is null;
    delete from {{ this }} where ledger_id is null;
    delete from {{ consent_log('int_consent__changed_identifiers') }};
    {{ outflow_watermark_set({'events': ['int_consent__events', 'written_at'],
        'email_events': ['int_consent__email_events', 'written_at']}, 'int_consent__marks') }}
{%- endmacro %}

{#- The staging of raw consent events (stg_consent__events), written once for the view, which stages every event,
    and for int_consent__events' daily run, which restages the events new or changed since it last ran: `keys` is a
    query of their event ids, and the raw rows are restricted to them before the lookups are joined. A phone is
    looked up in outflow_identity.phones_e164 in the consent source's region (phone_default_region), the row
    stg_phones__e164 lists for it: a consent event names no country. With `fingerprint`, each row also carries the
    fingerprint of its raw row (consent_event_fingerprint). -#}
{% macro stg_consent_events_select(keys=none, fingerprint=false) -%}
select
    consent.event_id,
    lower(consent.identifier_type) as identifier_type,
    case lower(consent.identifier_type)
        when 'email' then emails.email_canonical
        when 'phone' then {{ phone_identifier('phones.phone_e164', 'phones.phone_extension') }}
    end as identifier_value,
    lower(consent.purpose) as purpose,
    lower(consent.channel) as channel,
    lower(consent.status) as status,
    consent.source,
    consent.occurred_at
    {%- if fingerprint %},
    {{ consent_event_fingerprint('consent') }} as fingerprint
    {%- endif %}
from {{ staging_records_of(source('raw', 'consent_events'), 'event_id', keys) }} as consent
left join {{ source('outflow_identity', 'phones_e164') }} as phones
    on lower(consent.identifier_type) = 'phone'
    and phones.phone_raw = consent.identifier
    and phones.region = {{ phone_default_region('consent') }}
left join {{ source('outflow_identity', 'emails') }} as emails
    on lower(consent.identifier_type) = 'email'
    and emails.email_raw = consent.identifier
{%- endmacro %}

{#- The fingerprint of a raw consent event: every column it is staged from. On DuckDB its hash() of the columns (a
    64-bit hash, about a seventh of an md5's cost over every raw event; a DuckDB version that hashes otherwise
    only makes every event look changed once), elsewhere an md5: profiles_fingerprint, as text on every engine. -#}
{% macro consent_event_fingerprint(alias) -%}
    {%- set columns = [] -%}
    {%- for c in ['identifier_type', 'identifier', 'purpose', 'channel', 'status', 'source', 'occurred_at'] -%}
    {%- do columns.append(alias ~ '.' ~ c) -%}
    {%- endfor -%}
    cast({{ profiles_fingerprint(columns) }} as varchar)
{%- endmacro %}
