"""The WSGI entry point gunicorn serves."""

from ingest_api.app import create_app
from monkeytown.logs import configure_logging
from monkeytown.settings import load_settings

_settings = load_settings()
configure_logging(_settings.home, console=_settings.console_logs)
app = create_app()
