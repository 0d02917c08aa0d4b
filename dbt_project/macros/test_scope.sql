{#- In an incremental `dbt build` a data test reads only what changed since it last passed, as the quality suites
    do: the rows of the tested model's grain (meta `grain`, else the rows themselves) whose arrival (meta
    `arrival_column`, of a model or a source table) is later than its watermark less the overlap. The watermarks
    sit beside the suites', in quality.validation_watermarks as 'dbt test <unique id>'; a test that passes moves
    its own to the newest raw.events arrival at its invocation's start. A full refresh, `dbt test`, a model
    without an arrival column and a test that never passed read every row. -#}

{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [config.get('where') or '', changed_rows_condition(relation)]
                         | reject('equalto', '') | list -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')) dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro tests_read_changed_rows() -%}
    {%- do return(execute and flags.WHICH == 'build' and not flags.FULL_REFRESH) -%}
{%- endmacro %}

{#- '' when the test reads every row. -#}
{% macro changed_rows_condition(relation) -%}
    {%- if not tests_read_changed_rows() -%}{%- do return('') -%}{%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node
                     else graph.sources.get(model.depends_on.nodes | first) -%}
    {%- set meta = (tested.config.meta if tested.resource_type == 'model' else tested.meta) if tested else {} -%}
    {%- if not meta.get('arrival_column') -%}{%- do return('') -%}{%- endif -%}
    {%- set passed_through = test_watermark(model.unique_id) -%}
    {%- if passed_through is none -%}{%- do return('') -%}{%- endif -%}
    {%- set arrived -%}
        {{ meta.arrival_column }} > '{{ passed_through }}'::timestamptz - interval '{{ var("arrival_overlap_minutes") }} minutes'
    {%- endset -%}
    {%- if meta.get('grain') -%}
        {%- do return(meta.grain ~ ' in (select ' ~ meta.grain ~ ' from ' ~ relation ~ ' where ' ~ arrived ~ ')') -%}
    {%- endif -%}
    {%- do return(arrived) -%}
{%- endmacro %}

{% macro test_watermark(test_id) -%}
    {%- set found = run_query("select validated_through from quality.validation_watermarks where name = 'dbt test "
                              ~ test_id ~ "'") -%}
    {%- do return(found.columns[0].values()[0] if found.rows else none) -%}
{%- endmacro %}

{#- on-run-start: where a test that passes in this invocation will have read up to. -#}
{% macro record_build_start() -%}
    {%- if execute and flags.WHICH in ('build', 'test') -%}
        delete from quality.dbt_build_starts where started_at < now() - interval '1 day';  -- invocations that died
        insert into quality.dbt_build_starts (invocation_id, arrivals_through)
        select '{{ invocation_id }}', max(received_at) from raw.events having max(received_at) is not null
    {%- endif -%}
{%- endmacro %}

{#- on-run-end: the tests that passed move their watermarks (never back: a slower invocation may end last). -#}
{% macro record_tests_passed(results) -%}
    {%- set passed = [] -%}
    {%- for result in results if result.node.resource_type == 'test' and result.status == 'pass' -%}
        {%- do passed.append("'dbt test " ~ result.node.unique_id ~ "'") -%}
    {%- endfor -%}
    {%- if execute and flags.WHICH in ('build', 'test') -%}
        {%- if passed %}
        insert into quality.validation_watermarks as watermark (name, validated_through)
        select test.name, build.arrivals_through
        from unnest(array[{{ passed | join(', ') }}]::text[]) as test (name)
        cross join quality.dbt_build_starts as build
        where build.invocation_id = '{{ invocation_id }}'
        on conflict (name) do update
            set validated_through = greatest(watermark.validated_through, excluded.validated_through),
                validated_at = now();
        {%- endif %}
        delete from quality.dbt_build_starts where invocation_id = '{{ invocation_id }}'
    {%- endif -%}
{%- endmacro %}
