{#- Every distinct raw country name: the normalization step resolves each once with pycountry into the
    source outflow_identity.countries. -#}
select distinct country as country_raw
from {{ source('raw', 'crm_contacts') }}
where country is not null
