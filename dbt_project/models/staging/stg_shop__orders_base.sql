{#- Each order's own columns, cleaned, with its raw email and phone: what stg_shop__orders normalizes. A reader that
    needs no buyer contact detail (fct_events: the order's status, time and amount) reads this view, without the
    email, phone and country lookups stg_shop__orders joins for every order. -#}
select
    order_id,
    email as email_raw,
    phone as phone_raw,
    nullif(trim(user_id), '') as user_id,
    amount,
    upper(currency) as currency,
    lower(status) as status,
    ordered_at
from {{ source('raw', 'orders') }}
