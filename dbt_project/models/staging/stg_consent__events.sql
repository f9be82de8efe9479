-- every raw consent event, staged (macros/consent_incremental.sql; int_consent__events restages a few the same way)
{{ stg_consent_events_select() }}
