{#- Where an incremental entity model picks up: a little before the newest arrival it already holds, so rows
    committed after a run by transactions that began before it are not missed. A late event (the door takes
    them up to 24 h old) arrives after that point like any other, so its game, moves and player are rebuilt. -#}
{% macro arrival_cutoff(arrival_column) -%}
    {%- set newest_less_overlap -%}
        select coalesce(max({{ arrival_column }}), '-infinity'::timestamptz)
               - interval '{{ var("arrival_overlap_minutes") }} minutes'
        from {{ this }}
    {%- endset -%}
    {#- A literal read when the model runs: behind a subquery the planner cannot see how few rows are new. A
        unit test's `this` is a CTE of the test query, so there it stays a subquery. -#}
    {%- if execute and not (this | string).startswith('__dbt__cte__') -%}
        '{{ run_query(newest_less_overlap).columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        ({{ newest_less_overlap }})
    {%- endif -%}
{%- endmacro %}

{#- The UTC days an incremental rollup recomputes: [min_date, max_date) when given (a Dagster partition, a
    backfill), else the days an event arriving now can still touch (the door refuses events over 24 h old). -#}
{% macro rollup_window_start() -%}
    {%- if var('min_date', none) -%} '{{ var('min_date') }}'::date
    {%- else -%} ((now() at time zone 'UTC') - interval '{{ var("lookback_hours") }} hours')::date
    {%- endif -%}
{%- endmacro %}

{% macro rollup_window_end() -%}
    {%- if var('max_date', none) -%} '{{ var('max_date') }}'::date
    {%- else -%} 'infinity'::date
    {%- endif -%}
{%- endmacro %}

{#- True for rows whose UTC day is inside the rollup window (a timestamptz column); everything on a first or
    full-refresh build. Given the event family the rollup counts, the window starts no earlier than the oldest day
    raw.events holds of it: a day retention dropped keeps its rollup rows (its moves are gone from marts.moves). -#}
{% macro in_rollup_window(column, family=none) -%}
    {%- if is_incremental() -%}
    ({{ column }} >= ({{ rollup_window_start() }})::timestamp at time zone 'UTC'
     and {{ column }} < ({{ rollup_window_end() }})::timestamp at time zone 'UTC'
     {{- not_before_oldest_day_raw_holds(column, family) }})
    {%- else -%} true
    {%- endif -%}
{%- endmacro %}

{#- Empties the window before the rollup inserts it again, in the same transaction, so a period left without
    data goes too; the same days as in_rollup_window with that family. -#}
{% macro delete_rollup_window(period_column, period_is_date=true, family=none) -%}
    {%- if is_incremental() and period_is_date -%}
    delete from {{ this }}
    where {{ period_column }} >= {{ rollup_window_start() }} and {{ period_column }} < {{ rollup_window_end() }}
    {{- not_before_oldest_day_raw_holds(period_column, family, column_is_date=true) }}
    {%- elif is_incremental() %}
    delete from {{ this }} where {{ in_rollup_window(period_column, family) }}
    {%- endif -%}
{%- endmacro %}
