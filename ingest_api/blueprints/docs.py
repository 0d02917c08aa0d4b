"""The event contracts as JSON Schema, and the OpenAPI description."""

from __future__ import annotations

from flask import Blueprint

from ingest_api.contracts import json_schemas
from ingest_api.errors import json_response
from ingest_api.openapi import openapi_document

bp = Blueprint("docs", __name__)


@bp.get("/api/contracts")
def contracts():
    return json_response({"contracts": json_schemas()})


@bp.get("/openapi.json")
def openapi():
    return json_response(openapi_document())
