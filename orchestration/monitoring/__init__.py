"""The pipeline's health in Dagster: assets that measure (events per second, error rate, storage growth, database
query p95) into monitoring.measurements, asset checks that judge them against the design's thresholds (a breach
fails its check and lands as a check_breach system event), freshness checks on the marts, and a sensor that copies
Dagster's latest check results, materializations and runs into the monitoring tables the dashboard reads, and a
sensor that records each failed run as a run_failure system event."""
