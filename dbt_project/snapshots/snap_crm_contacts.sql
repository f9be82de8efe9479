{#- The CRM history (config: snap_crm_contacts.yml). dbt's timestamp strategy records a contact's new version
    only when its updated_at is later than its current version's valid_from (or it has none), and invalidates the
    current version of a contact that is gone; nothing else of the other contacts' staged rows is read. So the
    contacts that can get a new version are restaged alone (the staging of stg_crm__contacts, restricted to their
    raw rows before its lookups are joined: macros/staging_records.sql), and every other contact is given as its
    current version, which keeps it in the snapshot as it is. A first run, a snapshot whose columns are not the
    staging's, and Spark read the staging view whole. docs/incremental.md, "The CRM snapshot". -#}
{% snapshot snap_crm_contacts %}
{#- read only in the branch below that a parse does not render -#}
{%- do ref('country_codes') %}
{%- set staged = ref('stg_crm__contacts') %}
{%- set stored = none %}
{%- set columns = [] %}
{%- if execute and target.type != 'spark' %}
{%- set stored = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) %}
{%- if stored is not none %}
{%- set kept = adapter.get_columns_in_relation(stored) | map(attribute='name') | map('lower') | list %}
{%- set columns = adapter.get_columns_in_relation(staged) | map(attribute='name') | map('lower') | list %}
{%- if columns | reject('in', kept) | list %}{% set stored = none %}{% endif %}
{%- endif %}
{%- endif %}
{%- if stored is none and execute %}
select * from {{ staged }}
{%- else %}
{%- set raw = source('raw', 'crm_contacts') %}
{%- set current = "(select * from " ~ (stored or this) ~ " where dbt_valid_to is null)" %}
{#- a contact without a current version, or updated since it: staged as stg_crm__contacts stages it #}
select * from (
    {{ stg_crm_contacts_select(
        "select contacts.contact_id from " ~ raw ~ " as contacts left join " ~ current ~ " as snap "
        ~ "on snap.contact_id = contacts.contact_id "
        ~ "where snap.contact_id is null or snap.dbt_valid_from < contacts.updated_at"
    ) | indent(4) }}
) as restaged
union all
{#- every other contact: its current version, which the strategy leaves as it is (not updated since) #}
select {% for column in columns %}snap.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from {{ raw }} as contacts
inner join {{ current }} as snap on snap.contact_id = contacts.contact_id
where not coalesce(snap.dbt_valid_from < contacts.updated_at, false)
{%- endif %}
{% endsnapshot %}
