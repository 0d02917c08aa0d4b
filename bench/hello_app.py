"""The hello-world the API is compared with: Flask, parse the same JSON body with orjson, answer a small
JSON; no database, no validation."""

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/api/events")
def events():
    event = orjson.loads(request.get_data())
    return Response(orjson.dumps({"status": "accepted", "event_id": event.get("event_id")}),
                    mimetype="application/json")


@app.get("/healthz")
def healthz():
    return Response(b'{"status":"ok"}', mimetype="application/json")
