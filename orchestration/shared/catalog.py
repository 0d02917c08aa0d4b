"""How the assets read in Dagster's catalog: one group per layer, and the team that owns them."""

RAW = "raw"
STAGING = "staging"
INTERMEDIATE = "intermediate"
MARTS = "marts"
ROLLUPS = "rollups"
DASHBOARD = "dashboard"
QUALITY = "quality"
RETENTION = "retention"
MONITORING = "monitoring"
DOCS = "docs"
#: The dbt project's folders that are layers, outermost first (marts/rollups is the rollups layer, not marts).
DBT_LAYERS = (STAGING, INTERMEDIATE, MARTS, ROLLUPS, DASHBOARD)
DATA_ENGINEERING = "team:data-engineering"
OWNERS = [DATA_ENGINEERING]
