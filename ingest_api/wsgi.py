"""The WSGI entry point gunicorn serves."""

from ingest_api.app import create_app
from monkeytown.logs import configure_logging
from monkeytown.settings import load_settings

configure_logging(load_settings().home)
app = create_app()
