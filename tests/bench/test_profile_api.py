from collections import Counter

from bench.profile_api import by_function, by_layer, folded_stacks, markdown

ROUTE = "handle (gunicorn/workers/ggevent.py);__call__ (flask/app.py);post_events (ingest_api/blueprints/events.py)"
RAW = (f"{ROUTE};admit (ingest_api/door.py);match (re/__init__.py) 30\n"
       f"{ROUTE};land (ingest_api/landing.py);execute (psycopg/cursor.py) 20\n"
       "handle (gunicorn/workers/ggevent.py);send (gevent/_socketcommon.py) 50\n")


def test_folded_stacks_are_added_up_by_innermost_project_or_library_frame():
    stacks = folded_stacks(RAW + "a line without a count\n")
    assert sum(stacks.values()) == 100
    # the regex the door calls counts as the door; the psycopg call from the landing as psycopg
    assert by_layer(stacks) == Counter({"gunicorn and gevent": 50, "the door: validation and admission": 30,
                                        "psycopg and its pool": 20})


def test_own_and_inclusive_samples_by_function():
    own, inclusive = by_function(folded_stacks(RAW))
    assert inclusive["handle (gunicorn/workers/ggevent.py)"] == 100
    assert inclusive["post_events (ingest_api/blueprints/events.py)"] == 50
    assert own["send (gevent/_socketcommon.py)"] == 50 and own["post_events (ingest_api/blueprints/events.py)"] == 0


def test_the_report_shares_the_measured_cpu_by_samples():
    result = {"started_at": "2026-11-30T18:00:00+00:00", "machine": {"cpu": "x", "cores": 2}, "commit": "abc",
              "mode": "closed loop", "seconds": 10, "workers": 2, "workers_cpu_s": 1.0, "load": {"ok": 2000}}
    text = markdown(result, folded_stacks(RAW))
    # 500 us per event: half of it in gunicorn and gevent
    assert "| `gunicorn and gevent` | 50 | 50.0% | 250 us |" in text
