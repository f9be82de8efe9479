{#- Every merge and split of persons the identity step made: when, which person id gave identifiers to which,
    how many, and why (see docs/identity.md, "Stable, unique, deterministic ids"). -#}
-- the identity step writes the table: build after what reads its person map
-- depends_on: {{ ref('int_identity__identifiers') }}
select changed_at, change, from_person_id, to_person_id, identifiers, reason
from {{ source('outflow_identity', 'identity_changes') }}
