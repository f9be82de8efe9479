{#- The golden-record models recompute only the persons whose inputs changed (docs/incremental.md, "The golden
    record: persons touched since the last run"). Plain tables kept beside the models, like the marks
    (macros/outflow_watermarks.sql):

    - int_profiles__candidates_signatures (signature_id, person_id): each signature's person as
      int_profiles__attribute_candidates last read it, so a signature that moved to another person (or was removed)
      touches its previous person too;
    - int_profiles__candidates_emails and __candidates_phones (identifier_value): the emails and phones that were
      usable (identified exactly one person) when it last ran, so one that became shared, or usable again, touches
      the persons of the web signatures, CRM contacts, orders and consent signatures that carry it;
    - int_profiles__candidates_raw (source, record_key, fingerprint, identifier_value): each CRM contact's, order's
      and phone consent event's raw fingerprint (profiles_record_fingerprints) when it last ran, with a consent
      event's staged phone (its signature); it replaces int_profiles__candidates_records (staged fingerprints);
    - int_profiles__touched_persons (person_id, touched_at): the persons the candidates rewrote, with the run's
      stamp; int_profiles__survivors, dim_profiles and int_lead_scores__fit recompute the persons logged after their
      own mark, and dim_profiles and the fit drop what every reader has read.

    A model's incremental run writes every row of each touched person plus one tombstone row per touched person
    (delete+insert on person_id removes all the stored rows of the person, the tombstone keeps a person with no
    rows left in the batch); its post-hook deletes the tombstones. Portable SQL (DuckDB and PostgreSQL). -#}

{#- The config of a model kept per person (the golden-record models and the fit score): delete+insert on person_id
    with the model's post-hooks; on Spark a table rebuilt whole, without them. -#}
{% macro profiles_person_config(post_hook) -%}
    {%- set incremental = target.type != 'spark' -%}
    {{ return({
        'materialized': 'incremental' if incremental else 'table',
        'unique_key': 'person_id',
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'fail',
        'tags': ['derived'],
        'post_hook': post_hook if incremental else [],
    }) }}
{%- endmacro %}

{#- their marks (macros/outflow_watermarks.sql) are kept in a table of their own -#}
{% macro profiles_marks() -%}
    {{ return('int_profiles__marks') }}
{%- endmacro %}

{% macro profiles_table(name) -%}
    {{ this.schema }}.int_profiles__{{ name }}
{%- endmacro %}

{% macro profiles_table_exists(name) -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema,
        identifier='int_profiles__' ~ name) is not none) }}
{%- endmacro %}

{#- The stamp of this run's tombstones: the run's start, later than every logged one even if the clock went back. -#}
{% macro profiles_touch_stamp() -%}
    {%- if profiles_table_exists('touched_persons') -%}
    greatest({{ outflow_run_stamp() }},
        coalesce((select max(touched_at) from {{ profiles_table('touched_persons') }}),
            cast('1900-01-01' as timestamp)) + interval '1 second')
    {%- else -%}
    {{ outflow_run_stamp() }}
    {%- endif -%}
{%- endmacro %}

{#- The persons logged by the candidates since this model's mark (a query of person_id). -#}
{% macro profiles_touched_since_mark() -%}
    select distinct person_id from {{ profiles_table('touched_persons') }}
    where touched_at > {{ outflow_watermark('touched_at', profiles_marks()) }}
{%- endmacro %}

{#- int_profiles__attribute_candidates' post-hooks: log the persons it rewrote and drop their tombstones (rows
    without a field, observed_at the stamp), then bring its record of what it read up to date: the signatures
    stamped since its mark or gone, the records' fingerprints and the usable emails. Then its marks (outflow_watermark_set). -#}
{% macro profiles_candidates_post_hook() -%}
    {%- set signatures = ref('int_identity__signature_persons') -%}
    {%- set identifiers = ref('int_identity__identifiers') -%}
    create table if not exists {{ profiles_table('touched_persons') }} (person_id varchar(200), touched_at timestamp);
    insert into {{ profiles_table('touched_persons') }} (person_id, touched_at)
    select distinct person_id, observed_at from {{ this }} where field is null;
    delete from {{ this }} where field is null;
    create table if not exists {{ profiles_table('candidates_signatures') }} (
        signature_id varchar(400), person_id varchar(200)
    );
    delete from {{ profiles_table('candidates_signatures') }} as kept
    where not exists (
        select 1 from {{ signatures }} as s
        where s.signature_id = kept.signature_id and s.person_changed_at <= {{ outflow_watermark('person_changed_at', profiles_marks()) }}
    );
    insert into {{ profiles_table('candidates_signatures') }} (signature_id, person_id)
    select signature_id, person_id from {{ signatures }}
    where person_changed_at > {{ outflow_watermark('person_changed_at', profiles_marks()) }};
    drop table if exists {{ profiles_table('candidates_records') }};
    create table if not exists {{ profiles_table('candidates_raw') }} (
        source varchar(20), record_key varchar(400), fingerprint varchar(64), identifier_value varchar(400)
    );
    delete from {{ profiles_table('candidates_raw') }};
    insert into {{ profiles_table('candidates_raw') }} (source, record_key, fingerprint, identifier_value)
    select records.source, records.record_key, records.fingerprint, consent.identifier_value
    from ({{ profiles_record_fingerprints() }}) as records
    left join ({{ profiles_consent_phones() }}) as consent
        on records.source = 'consent' and consent.event_id = records.record_key
    {%- for kept, identifier_type in [('emails', 'email'), ('phones', 'phone')] %};
    create table if not exists {{ profiles_table('candidates_' ~ kept) }} (identifier_value varchar(400));
    delete from {{ profiles_table('candidates_' ~ kept) }} as kept
    where not exists (
        select 1 from {{ identifiers }} as i
        where i.identifier_type = '{{ identifier_type }}' and i.person_id is not null
            and i.identifier_value = kept.identifier_value
    );
    insert into {{ profiles_table('candidates_' ~ kept) }} (identifier_value)
    select i.identifier_value from {{ identifiers }} as i
    where i.identifier_type = '{{ identifier_type }}' and i.person_id is not null
        and not exists (
            select 1 from {{ profiles_table('candidates_' ~ kept) }} as kept
            where kept.identifier_value = i.identifier_value
        )
    {%- endfor %}
{%- endmacro %}

{#- The post-hook of the log's readers (int_profiles__survivors, dim_profiles, int_lead_scores__fit): drop the
    tombstones (`tombstone`: the condition that marks them), then store the newest logged stamp as this model's mark
    `touched_at`. dim_profiles and the fit score (`prune`) also drop from the log what every reader has read. -#}
{% macro profiles_reader_post_hook(tombstone, prune=false) -%}
    delete from {{ this }} where {{ tombstone }};
    create table if not exists {{ profiles_table('touched_persons') }} (person_id varchar(200), touched_at timestamp);
    create table if not exists {{ outflow_watermarks_relation(profiles_marks()) }} (
        model varchar(200), name varchar(200), value timestamp
    );
    delete from {{ outflow_watermarks_relation(profiles_marks()) }} where model = '{{ this.identifier }}';
    insert into {{ outflow_watermarks_relation(profiles_marks()) }} (model, name, value)
    select '{{ this.identifier }}', 'touched_at',
        coalesce(max(touched_at), cast('1900-01-01' as timestamp)) from {{ profiles_table('touched_persons') }}
    {%- if prune %};
    delete from {{ profiles_table('touched_persons') }}
    where touched_at <= (
        select least(
            coalesce(max(case when model = 'int_profiles__survivors' then value end), cast('1900-01-01' as timestamp)),
            coalesce(max(case when model = 'dim_profiles' then value end), cast('1900-01-01' as timestamp)),
            -- the fit score reads the log once it has a mark (without one it scores every person)
            coalesce(max(case when model = 'int_lead_scores__fit' then value end), cast('9999-12-31' as timestamp))
        )
        from {{ outflow_watermarks_relation(profiles_marks()) }} where name = 'touched_at'
    )
    {%- endif %}
{%- endmacro %}

{#- The staged phone consent events (event_id, identifier_value): the signature each belongs to. -#}
{% macro profiles_consent_phones() -%}
    select event_id, identifier_value from {{ ref('stg_consent__events') }}
    where identifier_type = 'phone' and identifier_value is not null
{%- endmacro %}

{#- The fingerprint of each CRM contact, order and phone consent event as it arrived: (source, record_key,
    fingerprint), an md5 of the raw columns its candidate rows are staged from, read from the raw tables without
    staging them (the lookups staging joins, the email and phone normalization, give a raw value the same result
    every run; a change of them needs --full-refresh, docs/incremental.md). An order's phone is read in the
    country of its buyer's CRM contacts (stg_shop__order_countries), so that country is in its fingerprint. A
    record whose fingerprint is not the one kept in int_profiles__candidates_raw is new or changed in place, with
    or without a newer updated_at. Its person, and whether its email and phone are usable, are not in it: a
    signature whose person changed is stamped, and the usable emails and phones are kept apart. -#}
{% macro profiles_record_fingerprints() -%}
    {%- set crm_columns = [] -%}
    {%- for c in ['updated_at', 'email', 'phone', 'country', 'first_name', 'last_name', 'company', 'job_title',
        'industry', 'employee_count', 'city', 'state', 'postal_code', 'gender', 'birth_date'] %}
    {%- do crm_columns.append('crm.' ~ c) %}
    {%- endfor -%}
    select 'crm' as source, crm.contact_id as record_key, {{ profiles_fingerprint(crm_columns) }} as fingerprint
    from {{ source('raw', 'crm_contacts') }} as crm
    union all
    select 'order', orders.order_id,
        {{ profiles_fingerprint(['orders.ordered_at', 'orders.email', 'orders.phone', 'countries.country_raw']) }}
    from {{ source('raw', 'orders') }} as orders
    left join {{ ref('stg_shop__order_countries') }} as countries on countries.order_id = orders.order_id
    union all
    select 'consent', consent.event_id,
        {{ profiles_fingerprint(['consent.identifier', 'consent.occurred_at']) }}
    from {{ source('raw', 'consent_events') }} as consent
    where lower(consent.identifier_type) = 'phone'
{%- endmacro %}

{#- An md5 of the values, separated by the ASCII unit separator (chr(31)), a null written as the record separator
    (chr(30)): control characters that the staged text columns do not hold. -#}
{% macro profiles_fingerprint(columns) -%}
    md5(
        {%- for c in columns %}
        coalesce(cast({{ c }} as varchar), chr(30))
        {%- if not loop.last %} || chr(31) ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
