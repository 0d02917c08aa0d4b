{#- dbt_utils's test of the same name and arguments, written here because no dbt package is installed. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{%- set key = combination_of_columns | join(', ') %}
select {{ key }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ key }}
having count(*) > 1
{% endtest %}
