{#- The staging of CRM contacts (stg_crm__contacts) and of orders' buyer contact details (stg_shop__orders), written
    once for the views, which stage every record, and for a reader that restages a few of them:
    int_profiles__attribute_candidates' daily run, the records of the persons it touched (docs/incremental.md,
    "The golden record"). `keys` is a query of the records' ids (contact_id, order_id): the raw rows are restricted
    to them before any lookup is joined, which a filter on the view does not reach below its lookups.

    A phone is looked up in the normalization step's table (outflow_identity.phones_e164) in the region it was
    parsed in: its record's country when known (an order's: its buyer's, stg_shop__order_countries), else its
    source's default region (phone_default_region). That is the row stg_phones__e164 gives the record, without
    listing every distinct phone of every source first. -#}

{#- The region a source's phone is read in when its record names no known country (stg_phones__distinct):
    var('phone_region_by_source') for the source, else var('default_phone_region'); a quoted literal. -#}
{% macro phone_default_region(source_name) -%}
    {%- set by_source = var('phone_region_by_source', {}) or {} -%}
    '{{ by_source.get(source_name) or var('default_phone_region') or 'US' }}'
{%- endmacro %}

{% macro stg_crm_contacts_select(keys=none) -%}
select
    source.contact_id,
    coalesce(emails.email_address, {{ normalize_email('source.email') }}) as email,
    emails.email_canonical,
    nullif(trim(source.phone), '') as phone_raw,
    phones.phone_e164,
    phones.phone_extension,
    {{ normalize_name('source.first_name') }} as first_name,
    {{ normalize_name('source.last_name') }} as last_name,
    nullif(trim(source.company), '') as company,
    nullif(trim(source.job_title), '') as job_title,
    nullif(lower(trim(source.industry)), '') as industry,
    source.employee_count,
    countries.iso2 as country,
    timezones.timezone,
    {{ normalize_name('source.city') }} as city,
    nullif(upper(trim(source.state)), '') as state,
    nullif(trim(source.postal_code), '') as postal_code,
    nullif(lower(trim(source.gender)), '') as gender,
    cast(source.birth_date as date) as birth_date,
    source.created_at,
    source.updated_at
from {{ staging_records_of(source('raw', 'crm_contacts'), 'contact_id', keys) }} as source
left join {{ source('outflow_identity', 'countries') }} as countries on countries.country_raw = source.country
left join (
    select iso2, min(timezone) as timezone from {{ ref('country_codes') }} group by iso2
) as timezones on timezones.iso2 = countries.iso2
left join {{ source('outflow_identity', 'emails') }} as emails on emails.email_raw = source.email
left join {{ source('outflow_identity', 'phones_e164') }} as phones
    on phones.phone_raw = source.phone
    and phones.region = coalesce(countries.iso2, {{ phone_default_region('crm') }})
{%- endmacro %}

{% macro stg_shop_orders_select(keys=none) -%}
select
    orders.order_id,
    coalesce(emails.email_address, {{ normalize_email('orders.email_raw') }}) as email,
    emails.email_canonical,
    phones.phone_e164,
    phones.phone_extension,
    orders.user_id,
    orders.amount,
    orders.currency,
    orders.status,
    orders.ordered_at
from {{ staging_records_of(ref('stg_shop__orders_base'), 'order_id', keys) }} as orders
left join {% if keys is none %}{{ ref('stg_shop__order_countries') }}{% else -%}
    ({{ stg_shop_order_countries_select(keys) }}){%- endif %} as buyers on buyers.order_id = orders.order_id
left join {{ source('outflow_identity', 'countries') }} as countries on countries.country_raw = buyers.country_raw
left join {{ source('outflow_identity', 'phones_e164') }} as phones
    on phones.phone_raw = orders.phone_raw
    and phones.region = coalesce(countries.iso2, {{ phone_default_region('order') }})
left join {{ source('outflow_identity', 'emails') }} as emails on emails.email_raw = orders.email_raw
{%- endmacro %}

{#- The country of the person behind each order (stg_shop__order_countries), or of the orders in `keys` alone: the
    CRM contacts read are then those of their emails. -#}
{% macro stg_shop_order_countries_select(keys=none) -%}
select orders.order_id, contacts.country_raw
from {{ staging_records_of(source('raw', 'orders'), 'order_id', keys) }} as orders
inner join (
    select {{ normalize_email('email') }} as email, min(country) as country_raw
    from {{ source('raw', 'crm_contacts') }}
    where email is not null and country is not null
    {%- if keys is not none %}
        and {{ normalize_email('email') }} in (
            select {{ normalize_email('email') }} from {{ source('raw', 'orders') }} where order_id in ({{ keys }})
        )
    {%- endif %}
    group by 1
    having count(distinct lower(trim(country))) = 1
) as contacts on contacts.email = {{ normalize_email('orders.email') }}
{%- endmacro %}

{#- `relation`, or only its rows whose `key` is in the query `keys` (a derived table) -#}
{% macro staging_records_of(relation, key, keys) -%}
    {%- if keys is none -%}
    {{ relation }}
    {%- else -%}
    (select * from {{ relation }} where {{ key }} in ({{ keys }}))
    {%- endif -%}
{%- endmacro %}
