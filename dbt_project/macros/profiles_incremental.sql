{#- The golden-record models recompute only the persons whose inputs changed (docs/incremental.md, "The golden
    record: persons touched since the last run"). Plain tables kept beside the models, like the marks
    (macros/outflow_watermarks.sql):

    - int_profiles__candidates_signatures (signature_id, person_id): each signature's person as
      int_profiles__attribute_candidates last read it, so a signature that moved to another person (or was removed:
      int_identity__signature_persons_removed, profiles_removals_logged) touches its previous person too;
    - int_profiles__candidates_emails and __candidates_phones (identifier_value): the emails and phones that were
      usable (identified exactly one person) when it last ran, so one that became shared, or usable again, touches
      the persons of the web signatures, CRM contacts, orders and consent signatures that carry it;
    - int_profiles__candidates_fingerprints (source, record_key, fingerprint, identifier_value): each CRM contact's,
      order's and phone consent event's raw fingerprint (profiles_record_fingerprints) when it last ran, with a
      contact's email and a consent event's staged phone; the pre-hook writes this run's beside it
      (__candidates_fingerprints_now, which the query compares with the kept ones) and the post-hook renames it in
      place of the kept ones, so no copy is written and nothing of the run is left beside them (the compiled query
      reads a table that exists only while the model runs: bench/build_scale.py does not replay it). It replaces
      int_profiles__candidates_raw (an order's fingerprint held its buyer's country) and __candidates_records;
    - int_profiles__touched_persons (person_id, touched_at): the persons the candidates rewrote, with the run's
      stamp; int_profiles__survivors, dim_profiles and int_lead_scores__fit recompute the persons logged after their
      own mark, and dim_profiles and the fit drop what every reader has read.

    A model's incremental run writes every row of each touched person plus one tombstone row per touched person
    (delete+insert on person_id removes all the stored rows of the person, the tombstone keeps a person with no
    rows left in the batch); its post-hook deletes the tombstones. Portable SQL (DuckDB and PostgreSQL). -#}

{#- The config of a model kept per person (the golden-record models and the fit score): delete+insert on person_id
    with the model's post-hooks; on Spark a table rebuilt whole, without them. -#}
{% macro profiles_person_config(post_hook, pre_hook=[]) -%}
    {%- set incremental = target.type != 'spark' -%}
    {{ return({
        'materialized': 'incremental' if incremental else 'table',
        'unique_key': 'person_id',
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'fail',
        'tags': ['derived'],
        'pre_hook': pre_hook if incremental else [],
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

{#- Whether the signatures removed since the candidates' mark are the ones int_identity__signature_persons logged
    (int_identity__signature_persons_removed, kept until the candidates read it: outflow_prune_removed_signatures):
    the log exists and some signature is as old as the mark. Else the signature persons were rebuilt whole since
    (which logs no removal, and stamps every signature): each kept signature is looked up instead. -#}
{% macro profiles_removals_logged() -%}
    {%- set persons = ref('int_identity__signature_persons') -%}
    {%- if not execute or adapter.get_relation(database=persons.database, schema=persons.schema,
        identifier='int_identity__signature_persons_removed') is none -%}
    {{ return(false) }}
    {%- endif -%}
    {%- set kept = run_query('select count(*) from (select 1 from ' ~ persons ~ ' where person_changed_at <= '
        ~ outflow_watermark('person_changed_at', profiles_marks()) ~ ' limit 1) as kept').rows[0][0] -%}
    {{ return(kept > 0) }}
{%- endmacro %}

{#- The signatures removed since the candidates' mark (signature_id), when logged (profiles_removals_logged). -#}
{% macro profiles_removed_signatures() -%}
    {%- set persons = ref('int_identity__signature_persons') -%}
    select signature_id from {{ outflow_removed_signatures(persons.schema) }}
    where person_changed_at > {{ outflow_watermark('person_changed_at', profiles_marks()) }}
{%- endmacro %}

{#- int_profiles__attribute_candidates' pre-hook: this run's fingerprints of the records, written once for the query
    to compare with the kept ones and for the post-hook to keep. -#}
{% macro profiles_candidates_pre_hook() -%}
    drop table if exists {{ profiles_table('candidates_fingerprints_now') }};
    create table {{ profiles_table('candidates_fingerprints_now') }} as
    {{ profiles_record_fingerprints() }};
    drop table if exists {{ profiles_table('candidates_touched_now') }}
    {%- if profiles_candidates_touched_only() %};
    create table {{ profiles_table('candidates_touched_now') }} as
    {{ profiles_candidates_touched() }}
    {%- endif %}
{%- endmacro %}

{#- The emails and phones that identify exactly one person now (CTEs usable_emails and usable_phones, opening a
    query's `with`): the candidates offer no other, and their touched persons compare them with the kept ones. -#}
{% macro profiles_usable_identifiers() -%}
with usable_emails as (
    select identifier_value from {{ ref('int_identity__identifiers') }}
    where identifier_type = 'email' and person_id is not null
),

usable_phones as (
    select identifier_value from {{ ref('int_identity__identifiers') }}
    where identifier_type = 'phone' and person_id is not null
)
{%- endmacro %}

{#- int_profiles__attribute_candidates' touched persons (docs/incremental.md, "The golden record"), a query of
    person_id: written by its pre-hook as int_profiles__candidates_touched_now, which the query reads and the
    post-hook drops. A table, not a CTE of the query: DuckDB cannot estimate the union of the many parts below, and
    took the touched persons for more than the signature persons, building its hash table on every signature person
    to pick the touched persons' ones (docs/performance.md). -#}
{% macro profiles_candidates_touched() -%}
{%- set persons = ref('int_identity__signature_persons') %}
{{ profiles_usable_identifiers() }},

{%- set lookback = "interval '" ~ (var('incremental_lookback_days') | int) ~ " days'" %}
{%- set signatures_read = profiles_table('candidates_signatures') %}

records_changed as (
    -- the records new or changed in place (with or without a newer updated_at) as they arrived (`arrived`), and
    -- those changed or deleted as they were kept: the fingerprints, which hold the record's source and key, found
    -- on one side only
    select
        coalesce(records_now.source, kept.source) as source,
        coalesce(records_now.record_key, kept.record_key) as record_key,
        coalesce(records_now.identifier_value, kept.identifier_value) as identifier_value,
        records_now.fingerprint is not null as arrived
    from {{ profiles_table('candidates_fingerprints_now') }} as records_now
    full outer join {{ profiles_table('candidates_fingerprints') }} as kept
        on kept.fingerprint = records_now.fingerprint
    where records_now.fingerprint is null or kept.fingerprint is null
),

{%- for kept, identifier_type in [('emails', 'email'), ('phones', 'phone')] %}

{{ identifier_type }}s_changed as (
    -- {{ kept }} that became usable (identify one person) or unusable since the last run
    {%- if profiles_candidates_identifiers_narrowed() %}
    select since.identifier_value
    from ({{ profiles_identifiers_since_mark(identifier_type) | indent(8) }}) as since
    left join {{ profiles_table('candidates_' ~ kept) }} as kept on kept.identifier_value = since.identifier_value
    where since.usable <> (kept.identifier_value is not null)
    {%- else %}
    select coalesce(now_usable.identifier_value, kept.identifier_value) as identifier_value
    from usable_{{ kept }} as now_usable
    full outer join {{ profiles_table('candidates_' ~ kept) }} as kept
        on kept.identifier_value = now_usable.identifier_value
    where now_usable.identifier_value is null or kept.identifier_value is null
    {%- endif %}
),
{%- endfor %}

touched as (
    -- signatures stamped since the last run (new, or another person): their person now and then
    select persons.person_id, kept.person_id as previous_person_id
    from {{ persons }} as persons
    left join {{ signatures_read }} as kept on kept.signature_id = persons.signature_id
    where persons.person_changed_at > {{ outflow_watermark('person_changed_at', profiles_marks()) }}
    union all
    -- signatures gone since: their person then
    select kept.person_id, cast(null as varchar)
    from {{ signatures_read }} as kept
    {%- if profiles_removals_logged() %}
    where kept.signature_id in ({{ profiles_removed_signatures() }})
    {%- else %}
    where not exists (select 1 from {{ persons }} as persons where persons.signature_id = kept.signature_id)
    {%- endif %}
    union all
    -- web signatures with email events received since (restaged within the lookback), or whose email became
    -- usable or unusable
    select persons.person_id, cast(null as varchar)
    from {{ persons }} as persons
    inner join (
        select distinct cookie_id, user_id, email_canonical from {{ ref('stg_web__events') }}
        where email_canonical is not null
            and received_at >= {{ outflow_watermark('web_received_at', profiles_marks()) }} - {{ lookback }}
    ) as web
        -- the email first: a plain column to hash on (never null here), not the signature's null-safe form alone
        on persons.email_canonical = web.email_canonical
        and {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
    where persons.source = 'web'
    union all
    select persons.person_id, cast(null as varchar)
    from {{ persons }} as persons
    inner join emails_changed as changed on changed.identifier_value = persons.email_canonical
    where persons.source = 'web'
    union all
    -- CRM contacts and orders new or changed in place (a deleted one is a signature gone, above)
    select persons.person_id, cast(null as varchar)
    from records_changed as changed
    inner join {{ persons }} as persons on persons.source = changed.source and persons.record_key = changed.record_key
    where changed.source in ('crm', 'order') and changed.arrived
    union all
    -- orders whose buyer's CRM contacts changed, now or as kept: the country their phone is read in
    select persons.person_id, cast(null as varchar)
    from {{ source('raw', 'orders') }} as orders
    inner join {{ persons }} as persons on persons.source = 'order' and persons.record_key = orders.order_id
    where {{ normalize_email('orders.email') }} in (
        select identifier_value from records_changed where source = 'crm'
    )
    union all
    -- CRM contacts and orders whose email or phone became usable or unusable (their signature carries the
    -- phone with its extension, the candidate without)
    select persons.person_id, cast(null as varchar)
    from {{ persons }} as persons
    where persons.signature_id in (
        select signature_id from {{ ref('int_identity__signatures') }}
        where source in ('crm', 'order')
            and (
                email_canonical in (select identifier_value from emails_changed)
                or split_part(phone, ';ext=', 1) in (select identifier_value from phones_changed)
            )
    )
    union all
    -- phone consent events new, changed in place or deleted, and consent phones that became usable or unusable:
    -- the person of their signature, with the phone now and as kept
    select persons.person_id, cast(null as varchar)
    from {{ persons }} as persons
    inner join (
        select identifier_value from records_changed where source = 'consent'
        union
        select identifier_value from phones_changed
    ) as consent
        on persons.source = 'consent' and persons.identifier_type = 'phone'
        and persons.identifier_value = consent.identifier_value
)

select person_id from touched where person_id is not null
union
select previous_person_id from touched where previous_person_id is not null
{%- endmacro %}

{#- Whether the candidates' run reads only what changed: an incremental run with the record of what the last run
    read (else everything, and every stored person rewritten: a table from before this layout). -#}
{% macro profiles_candidates_touched_only() -%}
    {{ return(is_incremental() and profiles_table_exists('candidates_signatures')
        and profiles_table_exists('candidates_emails') and profiles_table_exists('candidates_phones')
        and profiles_table_exists('candidates_fingerprints')) }}
{%- endmacro %}


{#- int_profiles__attribute_candidates' post-hooks: log the persons it rewrote and drop their tombstones (rows
    without a field, observed_at the stamp), then bring its record of what it read up to date: the signatures
    stamped since its mark or removed, the records' fingerprints (this run's, from the pre-hook, renamed in place)
    and the usable emails. Then its marks (outflow_watermark_set). -#}
{% macro profiles_candidates_post_hook() -%}
    {%- set signatures = ref('int_identity__signature_persons') -%}
    {%- set identifiers = ref('int_identity__identifiers') -%}
    {%- set mark = outflow_watermark('person_changed_at', profiles_marks()) -%}
    create table if not exists {{ profiles_table('touched_persons') }} (person_id varchar(200), touched_at timestamp);
    insert into {{ profiles_table('touched_persons') }} (person_id, touched_at)
    select distinct person_id, observed_at from {{ this }} where field is null;
    delete from {{ this }} where field is null;
    create table if not exists {{ profiles_table('candidates_signatures') }} (
        signature_id varchar(400), person_id varchar(200)
    );
    {%- if profiles_removals_logged() %}
    delete from {{ profiles_table('candidates_signatures') }}
    where signature_id in (
        select signature_id from {{ signatures }} where person_changed_at > {{ mark }}
        union all
        {{ profiles_removed_signatures() }}
    );
    {%- else %}
    delete from {{ profiles_table('candidates_signatures') }} as kept
    where not exists (
        select 1 from {{ signatures }} as s
        where s.signature_id = kept.signature_id and s.person_changed_at <= {{ mark }}
    );
    {%- endif %}
    insert into {{ profiles_table('candidates_signatures') }} (signature_id, person_id)
    select signature_id, person_id from {{ signatures }}
    where person_changed_at > {{ mark }};
    drop table if exists {{ profiles_table('candidates_records') }};
    drop table if exists {{ profiles_table('candidates_raw') }};
    drop table if exists {{ profiles_table('candidates_fingerprints') }};
    drop table if exists {{ profiles_table('candidates_touched_now') }};
    alter table {{ profiles_table('candidates_fingerprints_now') }} rename to int_profiles__candidates_fingerprints
    {%- set narrowed = profiles_candidates_identifiers_narrowed() %}
    {%- for kept, identifier_type in [('emails', 'email'), ('phones', 'phone')] %};
    create table if not exists {{ profiles_table('candidates_' ~ kept) }} (identifier_value varchar(400));
    {%- if narrowed %}
    -- only the {{ kept }} whose identifier was written or logged since the mark can have become usable or unusable
    create temporary table profiles_{{ kept }}_since as
    {{ profiles_identifiers_since_mark(identifier_type) }};
    delete from {{ profiles_table('candidates_' ~ kept) }}
    where identifier_value in (select identifier_value from profiles_{{ kept }}_since where not usable);
    insert into {{ profiles_table('candidates_' ~ kept) }} (identifier_value)
    select since.identifier_value from profiles_{{ kept }}_since as since
    where since.usable and not exists (
        select 1 from {{ profiles_table('candidates_' ~ kept) }} as kept
        where kept.identifier_value = since.identifier_value
    );
    drop table profiles_{{ kept }}_since
    {%- else %}
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
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- Whether the candidates find the emails and phones that became usable or unusable among the identifiers written
    since their mark `identifiers` (int_identity__identifiers' `written_at`) and those the log
    int_identity__identifiers_removed names since (profiles_identifiers_since_mark), instead of comparing every usable
    one with the kept ones: the log exists and some identifier is as old as the mark (else the identifiers were
    rebuilt whole since, which logs no removal, or the candidates never read the stamp). -#}
{% macro profiles_candidates_identifiers_narrowed() -%}
    {{ return(profiles_candidates_touched_only() and profiles_identifiers_narrowed()) }}
{%- endmacro %}

{#- The emails or phones (`identifier_type`) whose usability can have changed since this model's mark `identifiers`,
    with whether they are usable now (a query of identifier_value, usable): the identifiers written since the mark
    (usable when they have a person), and those the log names since that were not written again (gone). -#}
{% macro profiles_identifiers_since_mark(identifier_type) -%}
{%- set identifiers = ref('int_identity__identifiers') -%}
{%- set mark = outflow_watermark('identifiers', profiles_marks()) -%}
select identifier_value, person_id is not null as usable
from {{ identifiers }}
where identifier_type = '{{ identifier_type }}' and written_at > {{ mark }}
union all
select distinct substr(removed.identifier_key, {{ identifier_type | length + 2 }}), false
from {{ outflow_identity_identifiers_removed() }} as removed
where removed.removed_at > {{ mark }} and removed.identifier_key like '{{ identifier_type }}:%'
    and not exists (
        select 1 from {{ identifiers }} as i
        where i.identifier_key = removed.identifier_key and i.written_at > {{ mark }}
    )
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

{#- The fingerprint of each CRM contact, order and phone consent event as it arrived: (source, record_key,
    fingerprint, identifier_value), an md5 of the record's source, key and the raw columns its candidate rows are
    staged from, read from the raw tables without staging them (the lookups staging joins, the email and phone
    normalization, give a raw value the same result every run; a change of them needs --full-refresh,
    docs/incremental.md); one column, so that the records changed are one join of this run's fingerprints with
    the kept ones. `identifier_value` is what ties a record to others: a CRM contact's email as
    stg_shop__order_countries matches it (an order's phone is read in the country of its buyer's CRM contacts,
    so a contact new, changed or deleted touches the orders of its email, now and as kept), a phone consent
    event's staged phone (its signature). A record whose fingerprint is not a kept one is new or changed in
    place, with or without a newer updated_at. Its person, and whether its email and phone are usable, are not in
    it: a signature whose person changed is stamped, and the usable emails and phones are kept apart. -#}
{% macro profiles_record_fingerprints() -%}
    {%- set crm_columns = ["'crm'", 'crm.contact_id'] -%}
    {%- for c in ['updated_at', 'email', 'phone', 'country', 'first_name', 'last_name', 'company', 'job_title',
        'industry', 'employee_count', 'city', 'state', 'postal_code', 'gender', 'birth_date'] %}
    {%- do crm_columns.append('crm.' ~ c) %}
    {%- endfor -%}
    select 'crm' as source, crm.contact_id as record_key, {{ profiles_fingerprint(crm_columns) }} as fingerprint,
        {{ normalize_email('crm.email') }} as identifier_value
    from {{ source('raw', 'crm_contacts') }} as crm
    union all
    select 'order', orders.order_id,
        {{ profiles_fingerprint(["'order'", 'orders.order_id', 'orders.ordered_at', 'orders.email', 'orders.phone']) }},
        cast(null as varchar)
    from {{ source('raw', 'orders') }} as orders
    union all
    select 'consent', consent.event_id,
        {{ profiles_fingerprint(["'consent'", 'consent.event_id', 'consent.identifier', 'consent.occurred_at']) }},
        staged.identifier_value
    from {{ source('raw', 'consent_events') }} as consent
    left join {{ ref('stg_consent__events') }} as staged
        on staged.event_id = consent.event_id and staged.identifier_type = 'phone'
    where lower(consent.identifier_type) = 'phone'
{%- endmacro %}

{#- A fingerprint of the values: on DuckDB its 64-bit hash() of them (positional, a null hashed as such; about a
    quarter of the CPU of an md5 of their text, measured at 300k people, docs/performance.md); elsewhere an md5 of
    the values as text, separated by the ASCII unit separator (chr(31)), a null written as the record separator
    (chr(30)): control characters that the staged text columns do not hold. A new engine version whose hash
    differs makes every record look changed once: one run rewrites every person. -#}
{% macro profiles_fingerprint(columns) -%}
    {{ return(adapter.dispatch('profiles_fingerprint')(columns)) }}
{%- endmacro %}

{% macro duckdb__profiles_fingerprint(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro default__profiles_fingerprint(columns) -%}
    md5(
        {%- for c in columns %}
        coalesce(cast({{ c }} as varchar), chr(30))
        {%- if not loop.last %} || chr(31) ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- dim_profiles' log of the persons it removed, `dim_profiles__removed` (person_id), for the `relationships` test
    of the models that refer to a person (outflow_relationships_written): kept until every such test has passed
    after the removal, so a build that runs dim_profiles without the test (a partial selection) leaves it for the
    next one. The pre-hook replaces it with one null row, "rebuilt whole: check everything", on a build from
    scratch, and creates it empty if missing on an incremental run; the post-hook (profiles_removed_log_post_hook)
    adds the persons of the run's tombstones; the on-run-end hook profiles_removed_log_checked empties it once the
    tests that read it passed in the same dbt command. -#}
{% macro profiles_removed_log_pre_hook() -%}
    {%- if is_incremental() -%}
    create table if not exists {{ this.schema }}.{{ this.identifier }}__removed (person_id varchar(200))
    {%- else -%}
    drop table if exists {{ this.schema }}.{{ this.identifier }}__removed;
    create table {{ this.schema }}.{{ this.identifier }}__removed as
    select cast(null as varchar(200)) as person_id
    {%- endif %}
{%- endmacro %}

{% macro profiles_removed_log_post_hook(tombstone) -%}
    insert into {{ this.schema }}.{{ this.identifier }}__removed (person_id)
    select person_id from {{ this }} where {{ tombstone }}
{%- endmacro %}

{#- Whether dim_profiles' incremental run reads only the persons of the identifiers written since its mark
    `identifiers` (int_identity__identifiers' `written_at`) and those an identifier left since (the log
    int_identity__identifiers_removed): the log exists and some identifier is as old as the mark. Else the
    identifiers were rebuilt whole since (which logs no person: every row is stamped), or it never ran with the
    stamp: every person is read, as before. -#}
{% macro profiles_identifiers_narrowed() -%}
    {%- if not execute or not is_incremental() or target.type == 'spark' or adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_identity__identifiers_removed') is none -%}
    {{ return(false) }}
    {%- endif -%}
    {%- set kept = run_query('select count(*) from (select 1 from ' ~ ref('int_identity__identifiers')
        ~ ' where written_at <= ' ~ outflow_watermark('identifiers', profiles_marks()) ~ ' limit 1) as kept').rows[0][0] -%}
    {{ return(kept > 0) }}
{%- endmacro %}

{#- dim_profiles' last post-hook (after profiles_reader_post_hook, which replaces its marks): its mark
    `identifiers`, the newest identifier stamp or logged removal it read, then drop from the log what both its
    readers have read (dim_profiles and the candidates, whose mark of the same name is the newest stamp they read;
    they run before it). -#}
{% macro profiles_identifiers_mark() -%}
    {%- set removed = outflow_identity_identifiers_removed() -%}
    {%- set never = "cast('1900-01-01' as timestamp)" -%}
    {{ outflow_identity_identifiers_create_removed() }};
    insert into {{ outflow_watermarks_relation(profiles_marks()) }} (model, name, value)
    select '{{ this.identifier }}', 'identifiers', greatest(
        coalesce((select max(written_at) from {{ ref('int_identity__identifiers') }}), {{ never }}),
        coalesce((select max(removed_at) from {{ removed }}), {{ never }}));
    delete from {{ removed }} where removed_at <= (
        select least(
            coalesce(max(case when model = 'dim_profiles' then value end), cast('1900-01-01' as timestamp)),
            -- the candidates read it once they have a mark (without one they compare every usable identifier)
            coalesce(max(case when model = 'int_profiles__attribute_candidates' then value end),
                cast('9999-12-31' as timestamp))
        )
        from {{ outflow_watermarks_relation(profiles_marks()) }} where name = 'identifiers'
    )
{%- endmacro %}

{#- on-run-end (dbt_project.yml): empty a model's log of removals (`<model>__removed`) when every
    outflow_relationships_written test that reads it passed in this dbt command. Each such test runs after the
    model (it depends on it), which runs at most once a command, so the test read every row the log holds now: a
    passing test checked every row that refers to a removed one. A removal the test has not checked (it failed, or
    was not selected) stays logged for the next. -#}
{% macro profiles_removed_log_checked(results) %}
    {% if execute and target.type != 'spark' %}
        {% set emptied = [] %}
        {% for parent in outflow_checked_nodes(results, ['outflow_relationships_written'], false) %}
            {% set node = graph.nodes[parent] %}
            {#- information_schema, not dbt's cache of relations: the log may have been created in this command -#}
            {% set found = run_query("select count(*) from information_schema.tables where table_schema = '"
                ~ node.schema ~ "' and table_name = '" ~ node.alias ~ "__removed'").rows[0][0] %}
            {% if found | int > 0 %}
                {#- in a transaction of dbt's own (run_query opens none), committed below -#}
                {% call statement('profiles_removed_log_checked', auto_begin=true) -%}
                    delete from {{ node.schema }}.{{ node.alias }}__removed
                {%- endcall %}
                {% do emptied.append(parent) %}
            {% endif %}
        {% endfor %}
        {% if emptied %}{% do adapter.commit() %}{% endif %}
    {% endif %}
{% endmacro %}
