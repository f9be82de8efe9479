{#- Decayed engagement points per person with a scored event, now (outflow_now()) and lead_score_backtest_days
    (30) before, in one pass over the events (macros/lead_scoring.sql): the engagement score and the backtest read
    them. Rebuilt whole: every event's weight changes with the as-of every day (docs/incremental.md). -#}
{{ lead_engagement_points(outflow_now(), lead_backtest_as_of()) }}
