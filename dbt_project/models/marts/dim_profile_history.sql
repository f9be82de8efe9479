{#- The person's firmographic attributes over time, one row per CRM contact version: what the warehouse
    knew between valid_from and valid_to (null = still current). A person with several CRM contacts has
    overlapping rows; readers take the latest version valid at their point in time. -#}
select
    persons.person_id,
    snap.contact_id,
    snap.job_title,
    snap.employee_count,
    snap.industry,
    snap.country,
    snap.dbt_valid_from as valid_from,
    snap.dbt_valid_to as valid_to
from {{ ref('snap_crm_contacts') }} as snap
inner join {{ ref('int_identity__signature_persons') }} as persons
    on persons.source = 'crm' and persons.record_key = snap.contact_id
