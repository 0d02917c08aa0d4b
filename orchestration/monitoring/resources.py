"""Where the query timings come from when pg_stat_statements cannot answer: the API's GET /metrics, at the address
the settings give the API (MONKEYTOWN_API_HOST, MONKEYTOWN_API_PORT), which `monkeytown up` serves it on."""

import dagster as dg

from monkeytown.settings import Settings

#: A server bound to every interface is reached on loopback.
_ANY_INTERFACE = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class MonitoringResource(dg.ConfigurableResource):
    #: None: no API to ask; the query p95 is then unavailable where pg_stat_statements is.
    api_metrics_url: str | None = None


def api_metrics_url(settings: Settings) -> str:
    host = _ANY_INTERFACE.get(settings.api_host, settings.api_host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api_port}/metrics"


def monitoring_resource(settings: Settings | None) -> MonitoringResource:
    """The API of these settings; None (definitions built for a test or a tool): no API."""
    return MonitoringResource(api_metrics_url=api_metrics_url(settings) if settings else None)
