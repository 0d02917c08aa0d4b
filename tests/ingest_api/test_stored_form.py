"""Values the contracts accept in several JSON spellings are stored in the one the marts read."""

from __future__ import annotations

import orjson

from ingest_api.contracts import contracts
from ingest_api.stored_form import with_integers

RUN = contracts()["agent_run"].schema


def test_integral_floats_of_integer_fields_become_integers():
    stored = with_integers({"files_created": 3.0, "files_modified": 10.0, "duration_seconds": 2.0}, RUN)
    assert orjson.dumps(stored) == b'{"files_created":3,"files_modified":10,"duration_seconds":2.0}'


def test_numbers_the_contract_types_as_number_and_free_form_data_stay_as_sent():
    event = {"files_created": 1, "duration_seconds": 5.0, "data": {"count": 4.0}}
    assert with_integers(event, RUN) is event


def test_nested_integer_fields_the_schema_describes_are_normalized_too():
    server_start = contracts()["server_start"].schema
    stored = with_integers({"event_data": {"pid": 4711.0, "workers": 2, "version": "1"}}, server_start)
    assert stored == {"event_data": {"pid": 4711, "workers": 2, "version": "1"}}
    assert isinstance(stored["event_data"]["pid"], int)


def test_a_non_integral_float_is_left_for_the_schema_to_refuse():
    assert with_integers({"files_created": 3.5}, RUN) == {"files_created": 3.5}
