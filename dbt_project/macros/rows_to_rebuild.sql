{#- All rows of each key that got a new row; lateral, as a semi-join on these unions would scan every partition. -#}
{% macro rows_to_rebuild(relation, key, arrival_column, this_arrival_column=none) -%}
    {% if is_incremental() %}
    select rows_of_key.*
    from (
        select distinct {{ key }} from {{ relation }}
        where {{ arrival_column }} >= {{ arrival_cutoff(this_arrival_column or arrival_column) }}
    ) as changed
    cross join lateral (
        select * from {{ relation }} as candidate where candidate.{{ key }} = changed.{{ key }}
        offset 0  -- keeps the subquery lateral: pulled up, it becomes a hash join over every partition
    ) as rows_of_key
    {% else %}
    select * from {{ relation }}
    {% endif %}
{%- endmacro %}
