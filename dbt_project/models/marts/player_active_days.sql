{{ config(
    materialized='incremental',
    unique_key=['player_id', 'day'],
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    indexes=[{'columns': ['day']}, {'columns': ['last_received_at']}],
) }}

-- The UTC days on which each player started a game or moved, as players counts its sightings (anonymous players
-- left out: each is one event). Kept when retention drops the moves, so retention cohorts outlive raw game days.
with appearances as (
    select player_id, started_at as seen_at, last_received_at
    from {{ ref('games') }}
    where
        player_id is not null and started_at is not null and not is_anonymous
        {% if is_incremental() %} and last_received_at >= {{ arrival_cutoff('last_received_at') }}{% endif %}
    union all
    select player_id, occurred_at, received_at
    from {{ ref('moves') }}
    where
        player_id is not null and not is_anonymous
        {% if is_incremental() %} and received_at >= {{ arrival_cutoff('last_received_at') }}{% endif %}
)

select
    player_id,
    (seen_at at time zone 'UTC')::date as day,
    -- every event of a (player, day) arriving after the cutoff is here, so this is the newest of them all
    max(last_received_at) as last_received_at
from appearances
group by 1, 2
