"""What more than one of orchestration's domains (ingest, dbt, quality) refers to: asset keys and names, the
catalog's groups and owners, the warehouse resource, Dagster's records of check executions, the quarantine of
landed rows. It imports no domain, so the domains need not import each other."""
