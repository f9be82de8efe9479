{#- Engagement score now (outflow_now()): decayed event points from the seed `lead_engagement_rules`
    (int_lead_scores__engagement_points). -#}
{{ lead_engagement_scores('now_') }}
