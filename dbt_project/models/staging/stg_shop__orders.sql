{#- Orders with their buyer's email and phone normalized (macros/staging_records.sql: the same staging restages
    the orders of the persons the golden record's daily run touched). -#}
{{ stg_shop_orders_select() }}
