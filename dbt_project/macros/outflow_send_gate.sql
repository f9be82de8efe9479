{#- The send gate shared by triggers and journey sends: joins `c` (person_id, channel, purpose) to its profile `p`
    and consent `k`, and keeps a row only if the person is not erased or globally excluded, has granted consent for
    the purpose on the channel (unless transactional), is not suppressed on the channel, and has an address for it.
    Usage: `select c.*, p.email ... from <rows> as c {{ outflow_send_gate('c') }}` (any alias but p, k, x, sup). -#}
{% macro outflow_send_gate(c) -%}
    inner join {{ ref('dim_profiles') }} as p on p.person_id = {{ c }}.person_id
    left join {{ ref('dim_consent') }} as k
        on k.person_id = {{ c }}.person_id and k.channel = {{ c }}.channel and k.purpose = {{ c }}.purpose
    where not exists (select 1 from {{ ref('erased_persons') }} as x where x.person_id = {{ c }}.person_id)
      and not exists (select 1 from {{ ref('excluded_persons') }} as x where x.person_id = {{ c }}.person_id)
      and ({{ c }}.purpose = 'transactional' or coalesce(k.is_granted, false))
      and not exists (
          select 1 from {{ ref('int_consent__suppressions') }} as sup
          where sup.person_id = {{ c }}.person_id and sup.channel = {{ c }}.channel
      )
      and case {{ c }}.channel
            when 'email' then coalesce(p.email, '') <> ''
            when 'sms' then coalesce(p.phone, '') <> ''
            else coalesce(p.email, '') <> '' or coalesce(p.phone, '') <> ''
          end
{%- endmacro %}
