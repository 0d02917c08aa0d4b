"""The form the marts read: a value the contracts accept in several JSON spellings is stored in one, so that no
accepted event can fail a model's cast (JSON Schema counts 3.0 and 1e1 as integers; PostgreSQL's '3.0'::integer
fails)."""

from __future__ import annotations


def _integer_only(spec: dict) -> bool:
    declared = spec.get("type")
    types = [declared] if isinstance(declared, str) else (declared or [])
    return "integer" in types and "number" not in types


def with_integers(value: object, spec: dict) -> object:
    """`value` with every integral float that `spec` (a JSON Schema) types as an integer turned into an int, also in
    nested objects the schema describes; the same object when nothing changed."""
    if isinstance(value, float) and value.is_integer() and _integer_only(spec):
        return int(value)
    properties = spec.get("properties")
    if isinstance(value, dict) and properties:
        changed = {}
        for name, item in value.items():
            if name in properties and (stored := with_integers(item, properties[name])) is not item:
                changed[name] = stored
        return {**value, **changed} if changed else value
    return value
