{#- The full_refresh config of a mart that holds history raw.events no longer has (retention drops game events
    after 90 days): false keeps it through `dbt build --full-refresh` (built incrementally then); with
    `--vars '{rebuild_history: true}'` it is none, so the flag rebuilds it from raw (true would rebuild it on every
    run, flag or not: dbt's should_full_refresh()). -#}
{% macro full_refresh_of_history() -%}
    {{ return(none if var('rebuild_history', false) else false) }}
{%- endmacro %}

{#- The oldest UTC day raw.events still holds of an event family (client: game events), read when the statement
    runs (raw.family_partitions(), migration 0006); 'infinity' when it holds none. -#}
{% macro oldest_day_raw_holds(family) -%}
    (select coalesce(min(held.day), 'infinity'::date) from raw.family_partitions() as held
     where held.family = '{{ family }}')
{%- endmacro %}

{#- ` and <column> >= that oldest day` (for a timestamptz column, from the day's start in UTC), or nothing without a
    family; a bound of its own, so the planner still estimates a window from its literal start. -#}
{% macro not_before_oldest_day_raw_holds(column, family, column_is_date=false) -%}
    {%- if family -%}
        {{ ' and ' ~ column }} >= {{ oldest_day_raw_holds(family) }}
        {%- if not column_is_date %}::timestamp at time zone 'UTC'{% endif %}
    {%- endif -%}
{%- endmacro %}

{#- Waits for a family day drop in progress and holds the next off until this transaction ends (the drop takes the
    same advisory lock exclusively), so the rollup's delete and insert see the same days of raw.events. -#}
{% macro hold_off_family_day_drops() -%}
    select pg_advisory_xact_lock_shared(hashtext('raw.events family day drops'))
{%- endmacro %}
