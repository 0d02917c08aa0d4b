-- Each event family keeps its own retention period in the same UTC day (game events 90 days, system events 30,
-- agent runs forever), so each day partition of raw.events is split by source: one table per family and day,
-- which retention drops whole without touching that day's other families. Existing days are converted here,
-- every row kept.

-- The sources with a table of their own in each day (ingest_api/contracts/*.schema.json, x-source).
CREATE FUNCTION raw.event_families() RETURNS SETOF text
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('client'), ('ci'), ('server')
$$;
COMMENT ON FUNCTION raw.event_families() IS
    'The sources that get a sub-partition of their own in every day of raw.events: client (game events), ci (agent '
    'runs), server (system events). Any other source lands in the day''s default sub-partition (family default).';

-- Creates the day partition of raw.events holding `day` (UTC), split by family, if missing; safe under concurrency.
CREATE OR REPLACE FUNCTION raw.ensure_events_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := 'events_' || to_char(day, 'YYYYMMDD');
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    family text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('raw.events partitions'));
    IF to_regclass(format('raw.%I', partition_name)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE raw.%I PARTITION OF raw.events FOR VALUES FROM (%L) TO (%L) PARTITION BY LIST (source)',
            partition_name, lower_bound, lower_bound + interval '1 day'
        );
        FOR family IN SELECT raw.event_families() LOOP
            EXECUTE format('CREATE TABLE raw.%I PARTITION OF raw.%I FOR VALUES IN (%L)',
                           partition_name || '_' || family, partition_name, family);
        END LOOP;
        EXECUTE format('CREATE TABLE raw.%I PARTITION OF raw.%I DEFAULT', partition_name || '_default', partition_name);
    END IF;
    RETURN partition_name;
END;
$$;
COMMENT ON FUNCTION raw.ensure_events_partition(date) IS
    'Creates the partition of raw.events for one UTC day if missing, with one sub-partition per family '
    '(raw.event_families()) and a default one, named events_YYYYMMDD_<family>; returns events_YYYYMMDD.';

-- Every family table of every day, from the catalog: the bounds, not the names, say which family and day.
CREATE FUNCTION raw.family_partitions()
RETURNS TABLE (family text, day date, partition_name regclass)
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((regexp_match(pg_get_expr(leaf.relpartbound, leaf.oid), $re$^FOR VALUES IN \('(.*)'\)$re$))[1],
                    'default'),
           ((regexp_match(pg_get_expr(d.relpartbound, d.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz
               AT TIME ZONE 'UTC')::date,
           leaf.oid::regclass
    FROM pg_inherits AS day_of
    JOIN pg_class AS d ON d.oid = day_of.inhrelid
    JOIN pg_inherits AS family_of ON family_of.inhparent = d.oid
    JOIN pg_class AS leaf ON leaf.oid = family_of.inhrelid
    WHERE day_of.inhparent = 'raw.events'::regclass
$fn$;
COMMENT ON FUNCTION raw.family_partitions() IS
    'Each family table of raw.events: its family (a source of raw.event_families(), or default), its UTC day and '
    'the table. Reads the catalog only.';

CREATE FUNCTION raw.family_days()
RETURNS TABLE (family text, day date, partition_name regclass, row_count bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found record;
BEGIN
    FOR found IN SELECT * FROM raw.family_partitions() AS p ORDER BY p.day, p.family LOOP
        family := found.family;
        day := found.day;
        partition_name := found.partition_name;
        EXECUTE format('SELECT count(*) FROM %s', found.partition_name) INTO row_count;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION raw.family_days() IS
    'Which days of raw.events each family still holds, with the exact number of rows in each (counts every row: '
    'use raw.family_partitions() for the list alone). A family day that was dropped is absent.';

CREATE FUNCTION raw.drop_family_day(family text, day date, expected_rows bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
-- a reader holding the day for long makes the drop fail within seconds instead of queueing every query behind it
SET lock_timeout = '10s'
AS $$
DECLARE
    target regclass;
    dropped bigint;
BEGIN
    -- one drop at a time, and apart from raw.ensure_events_partition's lock: landing must never wait on a drop
    PERFORM pg_advisory_xact_lock(hashtext('raw.events family day drops'));
    IF to_regclass(format('raw.%I', 'events_' || to_char(drop_family_day.day, 'YYYYMMDD'))) IS NULL THEN
        RAISE EXCEPTION 'raw.events has no partition for day %', drop_family_day.day USING ERRCODE = 'undefined_table';
    END IF;
    SELECT p.partition_name INTO target
    FROM raw.family_partitions() AS p
    WHERE p.family = drop_family_day.family AND p.day = drop_family_day.day;
    IF target IS NULL THEN
        RAISE EXCEPTION 'raw.events has no % partition for day % (never made, or already dropped)',
            drop_family_day.family, drop_family_day.day USING ERRCODE = 'undefined_table';
    END IF;
    -- no row may land in it between the count and the drop; readers go on until the drop itself
    EXECUTE format('LOCK TABLE raw.%I IN SHARE MODE', 'events_' || to_char(drop_family_day.day, 'YYYYMMDD'));
    EXECUTE format('SELECT count(*) FROM %s', target) INTO dropped;
    IF dropped IS DISTINCT FROM coalesce(expected_rows, dropped) THEN
        RAISE EXCEPTION '% holds % rows, not the % expected: nothing dropped', target, dropped, expected_rows
            USING ERRCODE = 'cardinality_violation';
    END IF;
    EXECUTE format('DELETE FROM raw.event_ids AS l USING %s AS e'
                   ' WHERE l.event_id = e.event_id AND l.occurred_at = e.occurred_at', target);
    EXECUTE format('DROP TABLE %s', target);
    RETURN dropped;
END;
$$;
COMMENT ON FUNCTION raw.drop_family_day(text, date, bigint) IS
    'Drops the rows of one family (client, ci, server or default) of one UTC day of raw.events, and their ids from '
    'the ledger raw.event_ids, in the caller''s transaction; returns the number of rows dropped. The other families '
    'of that day stay as they are. Refuses a day or family table that does not exist, and, when expected_rows is '
    'given (the rows the archive holds), a table holding any other number. Archive first: nothing here keeps a copy.';

COMMENT ON TABLE raw.events IS
    'Every admitted event: one partition per UTC day of occurred_at (events_YYYYMMDD), split by family, that is by '
    'source (events_YYYYMMDD_client, _ci, _server, _default). The ledger raw.event_ids keeps event_id unique.';

-- The conversion: every day partition leaves raw.events, the key takes in source, and the rows come back through
-- raw.events into the new shape. raw.events itself stays (views built on it keep working).
SELECT pg_advisory_xact_lock(hashtext('raw.events partitions'));
LOCK TABLE raw.events IN ACCESS EXCLUSIVE MODE;

CREATE TEMPORARY TABLE unsplit_days ON COMMIT DROP AS
SELECT c.oid::regclass AS old_partition,
       ((regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz
           AT TIME ZONE 'UTC')::date AS day
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'raw.events'::regclass;

DO $$
DECLARE
    unsplit record;
BEGIN
    FOR unsplit IN SELECT * FROM unsplit_days LOOP
        EXECUTE format('ALTER TABLE raw.events DETACH PARTITION %s', unsplit.old_partition);
        EXECUTE format('ALTER TABLE %s RENAME TO %I', unsplit.old_partition,
                       (SELECT relname FROM pg_class WHERE oid = unsplit.old_partition) || '_unsplit');
    END LOOP;
END;
$$;

ALTER TABLE raw.events DROP CONSTRAINT events_pkey;
-- a partitioned table's unique keys hold every level's partition key; event_id alone is unique in raw.event_ids
ALTER TABLE raw.events ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, occurred_at, source);

DO $$
DECLARE
    unsplit record;
    day date;
    columns text := (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                     WHERE attrelid = 'raw.events'::regclass AND attnum > 0 AND NOT attisdropped);
    expected bigint;
    moved bigint;
BEGIN
    FOR unsplit IN SELECT * FROM unsplit_days LOOP
        IF unsplit.day IS NOT NULL THEN
            PERFORM raw.ensure_events_partition(unsplit.day);
        END IF;
        -- a partition of other bounds (a default one, say) may hold rows of any day
        FOR day IN EXECUTE format('SELECT DISTINCT (occurred_at AT TIME ZONE %L)::date FROM %s', 'UTC',
                                  unsplit.old_partition) LOOP
            PERFORM raw.ensure_events_partition(day);
        END LOOP;
        EXECUTE format('SELECT count(*) FROM %s', unsplit.old_partition) INTO expected;
        EXECUTE format('INSERT INTO raw.events (%1$s) SELECT %1$s FROM %2$s', columns, unsplit.old_partition);
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved <> expected THEN
            RAISE EXCEPTION 'moved % of % rows out of %', moved, expected, unsplit.old_partition;
        END IF;
        EXECUTE format('DROP TABLE %s', unsplit.old_partition);
    END LOOP;
END;
$$;
