"""The Flask application factory for the ingest API, read API and dashboard."""

from __future__ import annotations

from flask import Flask, request

from ingest_api.auth import Keys, resolve_read_keys, resolve_write_keys
from ingest_api.blueprints import (
    agent_runs,
    counters,
    dashboard,
    data_docs,
    dbt_docs,
    docs,
    events,
    github_webhook,
    health,
    metrics,
    sdk,
    stats,
    stream,
)
from ingest_api.body import MAX_BODY_BYTES, raw_body
from ingest_api.cors import install_cross_origin_events
from ingest_api.errors import register_error_handlers
from ingest_api.guarded_pool import GuardedPool
from ingest_api.ingest import IngestService
from ingest_api.pool import create_pool
from ingest_api.rate_limit import Counters, RateLimiter, machine_counters, parse_limits
from ingest_api.request_log import install_request_log
from monkeytown.database import running_database_url
from monkeytown.settings import load_settings

#: Enough connections for every request thread of a worker plus the group-commit writer.
POOL_MAX_SIZE = 16
#: The read endpoints' statements read small aggregates: a few connections per worker serve the dashboards.
READ_POOL_MAX_SIZE = 4


def read_database(read_url: str | None, service: IngestService) -> GuardedPool:
    """What the read endpoints and the dashboard read from: a pool of their own on the replica when one is
    configured, else the write pool (the primary)."""
    if not read_url:
        return service.database
    return GuardedPool(create_pool(read_url, max_size=READ_POOL_MAX_SIZE, name="monkeytown-api-read"))


def rate_limit_counters(redis_url: str | None) -> Counters:
    """Where the rate limit counts: in Redis when one is configured (this machine's counters standing in while it
    is unreachable), else on this machine."""
    if not redis_url:
        return machine_counters()
    from ingest_api.redis_counters import RedisWindowCounters  # only then: redis-py takes 0.4-1 s to import

    return RedisWindowCounters(redis_url, machine_counters())


def create_app(test_config: dict | None = None) -> Flask:
    """Settings come from the MONKEYTOWN_* environment; `test_config` may override DATABASE_URL,
    READ_DATABASE_URL, WRITE_KEYS ({name: key}), READ_KEYS ({name: key}), RATE_LIMIT and REDIS_URL."""
    app = Flask(__name__)
    app.json.sort_keys = False
    settings = load_settings()
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, SOCK_SERVER_OPTIONS={
        "ping_interval": settings.stream_ping_seconds, "max_message_size": MAX_BODY_BYTES})
    app.config.from_mapping(test_config or {})
    url = app.config.get("DATABASE_URL") or running_database_url(settings)
    keys = app.config.get("WRITE_KEYS") or resolve_write_keys(settings.write_keys, settings.home)

    app.extensions["monkeytown.settings"] = settings
    app.extensions["monkeytown.write_keys"] = Keys(keys)
    app.extensions["monkeytown.read_keys"] = Keys(app.config.get("READ_KEYS")
                                                  or resolve_read_keys(settings.read_keys, keys))
    app.extensions["monkeytown.rate_limiter"] = RateLimiter(
        parse_limits(app.config.get("RATE_LIMIT") or settings.rate_limit),
        rate_limit_counters(app.config.get("REDIS_URL") or settings.redis_url))
    app.extensions["monkeytown.stream_rate"] = parse_limits(settings.stream_rate_limit, "MONKEYTOWN_STREAM_RATE_LIMIT")
    app.extensions["monkeytown.ingest"] = IngestService(create_pool(url, max_size=POOL_MAX_SIZE))
    app.extensions["monkeytown.reads"] = read_database(
        app.config.get("READ_DATABASE_URL") or settings.read_database_url, app.extensions["monkeytown.ingest"])

    service = app.extensions["monkeytown.ingest"]
    install_request_log(app)
    install_cross_origin_events(app)

    @app.before_request
    def _open_pool_and_check_size():
        service.ensure_open()
        raw_body(request)  # every route refuses an oversized body, before any parsing

    register_error_handlers(app)
    app.register_blueprint(events.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(agent_runs.bp)
    app.register_blueprint(github_webhook.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(data_docs.bp)
    app.register_blueprint(dbt_docs.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(counters.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(sdk.bp)
    return app
