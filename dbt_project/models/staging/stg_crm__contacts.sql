{#- CRM contacts with their email, phone and country normalized (macros/staging_records.sql: the same staging
    restages the contacts of the persons the golden record's daily run touched). -#}
{{ stg_crm_contacts_select() }}
