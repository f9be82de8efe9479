{#- The country of the person behind each order, from their other records: the country of the CRM contacts with
    the order's email, when they name one country. Orders carry no country, so their national phones are read
    in it (stg_phones__distinct), else in the source's default region (macros/staging_records.sql: the same SQL
    gives the country of a few orders, restaged by the golden record's daily run). -#}
{{ stg_shop_order_countries_select() }}
