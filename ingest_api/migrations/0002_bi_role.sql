-- The read-only role BI tools log in as, monkeytown_bi: it reads schema marts and nothing else. Roles belong to
-- the whole server, so every Monkeytown database on one server shares it; its password is set after the
-- migrations (ingest_api/bi_role.py), never in this checksummed text.

-- Creates monkeytown_bi if missing and lets it read marts, now and after dbt rebuilds it; false when the role is
-- missing and the current user may not create roles (no CREATEROLE). Safe to call again: `monkeytown db upgrade`
-- does, so a role created after this migration still gets its grants.
CREATE FUNCTION raw.ensure_bi_role() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    CREATE SCHEMA IF NOT EXISTS marts;  -- dbt builds into it later
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monkeytown_bi') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RETURN false;
        END IF;
        BEGIN
            CREATE ROLE monkeytown_bi LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- the upgrade of another database on this server created it meanwhile
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO monkeytown_bi', current_database());
    GRANT USAGE ON SCHEMA marts TO monkeytown_bi;
    GRANT SELECT ON ALL TABLES IN SCHEMA marts TO monkeytown_bi;
    -- dbt replaces a model by creating a new relation; tables, views and materialized views it creates get this
    ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO monkeytown_bi;
    RETURN true;
END;
$$;

SELECT raw.ensure_bi_role();

-- PostgreSQL 15 stopped letting PUBLIC (so every role) create in schema public; a database made from an older
-- template still does.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_namespace AS n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS acl
        WHERE n.nspname = 'public' AND acl.grantee = 0 AND acl.privilege_type = 'CREATE'
    ) THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
END;
$$;
