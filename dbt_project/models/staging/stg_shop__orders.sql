with phones as (
    select * from {{ ref('stg_phones__e164') }} where country_raw is null
)

select
    orders.order_id,
    {{ normalize_email('orders.email') }} as email,
    {{ canonical_email('orders.email') }} as email_canonical,
    phones.phone_e164,
    nullif(trim(orders.user_id), '') as user_id,
    orders.amount,
    upper(orders.currency) as currency,
    lower(orders.status) as status,
    orders.ordered_at
from {{ source('raw', 'orders') }} as orders
left join phones on phones.phone_raw = orders.phone
