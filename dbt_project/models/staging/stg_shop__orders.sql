with phones as (
    select * from {{ ref('stg_phones__e164') }} where source = 'order'
)

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
from {{ ref('stg_shop__orders_base') }} as orders
left join {{ ref('stg_shop__order_countries') }} as countries on countries.order_id = orders.order_id
left join phones
    on phones.phone_raw = orders.phone_raw and phones.country_raw is not distinct from countries.country_raw
left join {{ source('outflow_identity', 'emails') }} as emails on emails.email_raw = orders.email_raw
