{#- Every distinct raw phone with the source and country it was captured in (for an order, the country of its
    buyer's CRM records), and the region to read it in when the country is unknown: var('phone_region_by_source') for its source, else var('default_phone_region').
    The normalization step (outflow/phones.py) resolves the country with pycountry and parses the
    (phone, region) pairs it has not seen before into the source outflow_identity.phones_e164. -#}
select distinct phone_raw, country_raw, source, default_region
from (
    select phone as phone_raw, country as country_raw, 'crm' as source, {{ phone_default_region('crm') }} as default_region
    from {{ source('raw', 'crm_contacts') }}
    where phone is not null
    union all
    -- an order has no country: its buyer's other records give one (stg_shop__order_countries)
    select orders.phone, countries.country_raw, 'order', {{ phone_default_region('order') }}
    from {{ source('raw', 'orders') }} as orders
    left join {{ ref('stg_shop__order_countries') }} as countries on countries.order_id = orders.order_id
    where orders.phone is not null
    union all
    select identifier, cast(null as varchar), 'consent', {{ phone_default_region('consent') }}
    from {{ source('raw', 'consent_events') }} where lower(identifier_type) = 'phone'
    union all
    select identifier, cast(null as varchar), 'erasure', {{ phone_default_region('erasure') }}
    from {{ source('raw', 'erasure_requests') }}
    where lower(identifier_type) = 'phone' and identifier not like 'erased:sha256:%'  -- processed: only a hash is left
    union all
    select identifier_value, cast(null as varchar), 'exclusion', {{ phone_default_region('exclusion') }}
    from {{ ref('global_exclusions') }}
    where lower(trim(identifier_type)) = 'phone'
) as phones
