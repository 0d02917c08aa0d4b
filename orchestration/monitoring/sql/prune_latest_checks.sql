-- Forgets the checks the code location no longer defines (%(assets)s and %(check_names)s pair up: those it does).
DELETE FROM monitoring.latest_checks
WHERE (asset, check_name) NOT IN (
    SELECT d.asset, d.check_name FROM unnest(%(assets)s::text [], %(check_names)s::text []) AS d (asset, check_name)
)
