-- Forgets the assets the code location no longer defines (%(assets)s: those it does).
DELETE FROM monitoring.latest_materializations WHERE asset <> ALL (%(assets)s::text [])
