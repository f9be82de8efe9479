{#- The country of the person behind each order, from their other records: the country of the CRM contacts with
    the order's email, when they name one country. Orders carry no country, so their national phones are read
    in it (stg_phones__distinct), else in the source's default region. -#}
with contacts as (
    select {{ normalize_email('email') }} as email, min(country) as country_raw
    from {{ source('raw', 'crm_contacts') }}
    where email is not null and country is not null
    group by 1
    having count(distinct lower(trim(country))) = 1
)

select orders.order_id, contacts.country_raw
from {{ source('raw', 'orders') }} as orders
inner join contacts on contacts.email = {{ normalize_email('orders.email') }}
