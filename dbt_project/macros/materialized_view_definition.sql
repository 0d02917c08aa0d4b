{#- A materialized view whose SQL changed is replaced: dbt-postgres compares only its indexes, and would go on
    refreshing the old definition until a --full-refresh (a deployment that gained a column would serve the old
    one). Each view records the md5 of its compiled SQL in its comment (a post-hook of the dashboard folder); one
    that differs is a change that needs the view built again. -#}
{% macro materialized_view_definition_comment() -%}
    {#- the hooks' `model` is a dict, and holds no compiled code while dbt parses -#}
    {{- 'dbt definition md5 ' ~ local_md5(model.get('compiled_code') or '') -}}
{%- endmacro %}

{% macro record_materialized_view_definition() -%}
    comment on materialized view {{ this }} is '{{ materialized_view_definition_comment() }}'
{%- endmacro %}

{% macro postgres__get_materialized_view_configuration_changes(existing_relation, new_config) -%}
    {%- set recorded = run_query("select obj_description('" ~ existing_relation ~ "'::regclass, 'pg_class')") -%}
    {%- if recorded.columns[0].values()[0] != materialized_view_definition_comment() -%}
        {%- do return({'requires_full_refresh': true, 'indexes': []}) -%}
    {%- endif -%}
    {%- set described = postgres__describe_materialized_view(existing_relation) -%}
    {%- do return(existing_relation.get_materialized_view_config_change_collection(described, new_config.model)) -%}
{%- endmacro %}
