{#- One winning value per person and field, by the survivorship rules in dbt_project.yml.
    Incremental (delete+insert on person_id; on Spark a table rebuilt whole): a run recomputes the persons the
    candidates logged as touched since its mark (int_profiles__touched_persons), each with a tombstone row (no
    field) that the post-hook deletes, so a person left without winners loses its stored rows
    (macros/profiles_incremental.sql, docs/incremental.md). -#}
{{ config(**profiles_person_config(["{{ profiles_reader_post_hook('field is null') }}"])) }}
{%- set candidates = ref('int_profiles__attribute_candidates') %}

{%- if is_incremental() %}
with touched_persons as (
    {%- if profiles_table_exists('touched_persons') %}
    {{ profiles_touched_since_mark() }}
    {%- else %}
    -- no log yet (a table from before it): every person, stored or now
    select person_id from {{ this }}
    union
    select person_id from {{ candidates }}
    {%- endif %}
)

{{ survivorship_winners('(select * from ' ~ candidates ~ ' where person_id in (select person_id from touched_persons))') }}
union all
select person_id, cast(null as varchar), cast(null as varchar) from touched_persons
{%- else %}
{{ survivorship_winners(candidates) }}
{%- endif %}
