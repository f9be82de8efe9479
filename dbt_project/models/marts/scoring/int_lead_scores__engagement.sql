{#- Engagement score now (outflow_now()): decayed event points from the seed `lead_engagement_rules`. -#}
{{ lead_engagement_scores(outflow_now()) }}
