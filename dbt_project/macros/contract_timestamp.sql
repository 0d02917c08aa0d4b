{#- A timestamp as the contracts allow it (RFC 3339 text or epoch milliseconds) from a jsonb value, in UTC. -#}
{% macro contract_timestamp(jsonb_value) -%}
    case jsonb_typeof({{ jsonb_value }})
        when 'number' then to_timestamp(({{ jsonb_value }})::numeric / 1000)
        when 'string' then ({{ jsonb_value }} #>> '{}')::timestamptz
    end
{%- endmacro %}
