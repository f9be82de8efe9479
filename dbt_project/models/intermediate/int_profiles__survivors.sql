{#- One winning value per person and field, by the survivorship rules in dbt_project.yml. -#}
{{ survivorship_winners(ref('int_profiles__attribute_candidates')) }}
