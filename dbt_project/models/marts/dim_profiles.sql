{#- The golden record: one row per person.
    Incremental (delete+insert on person_id; on Spark a table rebuilt whole): the per-person identifier aggregates
    (identifier_count, first and last seen, crm_id, user_id) change only with a person's identifiers, so they are
    recomputed from int_identity__identifiers for the persons of the rows written since its mark (`written_at`) and
    the persons an identifier left since (the log int_identity__identifiers_removed), and compared with the stored
    ones; the golden fields only for the persons the candidates logged as touched since its mark
    (int_profiles__touched_persons). Those persons and the stored ones whose country has another time zone now are
    read; of them only the persons touched, new, gone, or with other aggregates or another time zone are assembled
    and compared in full (the others' stored row is kept as it is). Every person is read when the identifiers were
    rebuilt whole since its mark (no row as old as it), or without a mark or a log (profiles_identifiers_narrowed).
    A run writes the persons whose row differs from the stored one, and a tombstone (no identifier_count) for each
    stored person that no longer exists, which the post-hook deletes (macros/profiles_incremental.sql,
    docs/incremental.md) and logs in dim_profiles__removed for fct_events' `relationships` test. -#}
{{ config(**profiles_person_config(
    ["{{ profiles_removed_log_post_hook('identifier_count is null') }}",
     "{{ profiles_reader_post_hook('identifier_count is null', prune=true) }}",
     "{{ profiles_identifiers_mark() }}"],
    pre_hook=["{{ profiles_removed_log_pre_hook() }}"])) }}
{%- set survivors = ref('int_profiles__survivors') %}
{%- set types = {'employee_count': 'integer', 'birth_date': 'date'} %}
{%- set columns = ['person_id', 'email', 'email_canonical', 'phone', 'first_name', 'last_name', 'company',
    'job_title', 'industry', 'employee_count', 'country', 'timezone', 'city', 'state', 'postal_code', 'gender',
    'birth_date', 'crm_id', 'user_id', 'identifier_count', 'is_known', 'first_seen_at', 'last_seen_at'] %}

{%- set narrowed = profiles_identifiers_narrowed() %}
{%- set all_identifiers = ref('int_identity__identifiers') %}

with countries as (
    select distinct iso2, timezone from {{ ref('country_codes') }}
),

{%- if is_incremental() %}

touched_persons as (
    {%- if profiles_table_exists('touched_persons') %}
    {{ profiles_touched_since_mark() }}
    {%- else %}
    -- no log yet (a table from before it): every person
    select distinct person_id from {{ all_identifiers }} where person_id is not null
    {%- endif %}
),
{%- endif %}

{%- if narrowed %}
{%- set mark = outflow_watermark('identifiers', profiles_marks()) %}

read_persons as (
    -- the persons whose row can differ from the stored one: touched, of an identifier written since the mark or
    -- that an identifier left since, or whose stored country has another time zone now
    select person_id from touched_persons
    union
    select person_id from {{ all_identifiers }} where written_at > {{ mark }} and person_id is not null
    union
    select person_id from {{ outflow_identity_identifiers_removed() }} where removed_at > {{ mark }}
    union
    select stored.person_id
    from {{ this }} as stored
    left join countries on countries.iso2 = stored.country
    where stored.timezone is distinct from countries.timezone
),
{%- endif %}

identifiers as (
    select * from {{ all_identifiers }}
    where person_id is not null
    {%- if narrowed %}
        and person_id in (select person_id from read_persons)
    {%- endif %}
),

per_person as (
    select
        person_id,
        min(case when identifier_type = 'crm_id' then identifier_value end) as crm_id,
        min(case when identifier_type = 'user_id' then identifier_value end) as user_id,
        count(*) as identifier_count,
        bool_or(identifier_type <> 'cookie') as is_known,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from identifiers
    group by person_id
),

{%- if is_incremental() %}

changed as (
    -- the persons whose row can differ from the stored one, with their aggregates: new, gone (no identifier
    -- left: no aggregates), touched since the mark, with aggregates other than the stored ones, or whose stored
    -- country has another time zone now. Every other person's row is the stored one, so it is neither rebuilt
    -- nor compared again.
    select coalesce(per_person.person_id, stored.person_id) as person_id,
        per_person.crm_id, per_person.user_id, per_person.identifier_count, per_person.is_known,
        per_person.first_seen_at, per_person.last_seen_at
    from per_person
    {%- if narrowed %}
    full outer join (select * from {{ this }} where person_id in (select person_id from read_persons)) as stored
    {%- else %}
    full outer join {{ this }} as stored
    {%- endif %}
        on stored.person_id = per_person.person_id
    left join countries on countries.iso2 = stored.country
    where per_person.person_id is null
        or stored.person_id is null
        or per_person.person_id in (select person_id from touched_persons)
        {%- for c in ['crm_id', 'user_id', 'identifier_count', 'is_known', 'first_seen_at', 'last_seen_at'] %}
        or stored.{{ c }} is distinct from per_person.{{ c }}
        {%- endfor %}
        or stored.timezone is distinct from countries.timezone
),

golden as (
    -- the touched persons' golden fields anew, the other changed persons' as stored
    select pivoted.*, {{ canonical_email('pivoted.email') }} as email_canonical
    from (
        {{ survivorship_pivot('(select * from ' ~ survivors ~ ' where person_id in (select person_id from touched_persons)) as touched_survivors', types) | indent(8) }}
    ) as pivoted
    union all
    select person_id
        {%- for field in var('survivorship') %}, {{ field }}{% endfor %}, email_canonical
    from {{ this }} as stored
    where stored.person_id in (select person_id from changed)
        and not exists (select 1 from touched_persons where touched_persons.person_id = stored.person_id)
),
{%- else %}

golden as (
    select pivoted.*, {{ canonical_email('pivoted.email') }} as email_canonical
    from ({{ survivorship_pivot(survivors, types) | indent(4) }}) as pivoted
),
{%- endif %}

profiles as (
    -- typed as the contract, so an incremental run's rows match the stored table's columns on every engine
    select
        cast(per_person.person_id as varchar) as person_id,
        golden.email,
        cast(golden.email_canonical as varchar) as email_canonical,
        golden.phone,
        golden.first_name,
        golden.last_name,
        golden.company,
        golden.job_title,
        golden.industry,
        golden.employee_count,
        golden.country,
        countries.timezone,
        golden.city,
        golden.state,
        golden.postal_code,
        golden.gender,
        golden.birth_date,
        cast(per_person.crm_id as varchar) as crm_id,
        cast(per_person.user_id as varchar) as user_id,
        cast(per_person.identifier_count as integer) as identifier_count,
        per_person.is_known,
        per_person.first_seen_at,
        per_person.last_seen_at
    {%- if is_incremental() %}
    from changed as per_person
    {%- else %}
    from per_person
    {%- endif %}
    left join golden using (person_id)
    left join countries on countries.iso2 = golden.country
    {%- if is_incremental() %}
    where per_person.identifier_count is not null
    {%- endif %}
)

{%- if is_incremental() %}
-- the persons whose row changed, and a tombstone for each stored person gone
select profiles.*
from profiles
left join {{ this }} as stored on stored.person_id = profiles.person_id
where stored.person_id is null
    {%- for c in columns if c != 'person_id' %}
    or stored.{{ c }} is distinct from profiles.{{ c }}
    {%- endfor %}
union all
select stored.person_id
    {%- for c in columns if c != 'person_id' %},
    {% if c == 'identifier_count' %}cast(null as integer){% else %}stored.{{ c }}{% endif %}
    {%- endfor %}
from {{ this }} as stored
where stored.person_id in (select person_id from changed where identifier_count is null)
{%- else %}
select * from profiles
{%- endif %}
