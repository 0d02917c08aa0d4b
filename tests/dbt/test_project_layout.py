"""The dbt project's layout, read from its files (no dbt run): staging in a folder per source, and a primary-key
test on every model's grain, as dbt-project-evaluator asks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestration.dbt.project import DBT_PROJECT_DIR

MODELS = DBT_PROJECT_DIR / "models"
STAGING = MODELS / "staging"
ROLLUPS = MODELS / "marts" / "rollups"
#: dbt_utils's name for it; the project writes the test itself (tests/generic/) as no package is installed.
COMBINATION_TEST = "unique_combination_of_columns"


def yml_documents(folder: Path) -> list[tuple[Path, dict]]:
    return [(path, yaml.safe_load(path.read_text()) or {}) for path in sorted(folder.rglob("*.yml"))]


def declared_models() -> dict[str, dict]:
    return {model["name"]: model for _, document in yml_documents(MODELS) for model in document.get("models", [])}


def model_files(folder: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(folder.rglob("*.sql"))}


def named_tests(tests: list) -> dict[str, dict]:
    """`[unique, {relationships: {...}}]` as {"unique": {}, "relationships": {...}} (arguments unwrapped)."""
    named = {}
    for test in tests or []:
        if isinstance(test, str):
            named[test] = {}
        else:
            [(name, config)] = test.items()
            config = config or {}
            named[name] = config.get("arguments", config)
    return named


def is_not_null(column: dict) -> bool:
    return ("not_null" in named_tests(column.get("data_tests"))
            or any(c.get("type") in ("not_null", "primary_key") for c in column.get("constraints", [])))


def primary_key_tests(model: dict) -> list[tuple[str, ...]]:
    """The column sets of `model` a test proves a key: unique and not null on one column, or the combination
    test over columns that are each not null."""
    columns = {column["name"]: column for column in model.get("columns", [])}
    keys = [(name,) for name, column in columns.items()
            if "unique" in named_tests(column.get("data_tests")) and is_not_null(column)]
    combination = named_tests(model.get("data_tests")).get(COMBINATION_TEST)
    if combination is not None:
        key = tuple(combination["combination_of_columns"])
        if all(name in columns and is_not_null(columns[name]) for name in key):
            keys.append(key)
    return keys


def test_staging_models_live_in_a_folder_per_source_and_read_only_it():
    sources = {source["name"]: path.parent for path, document in yml_documents(STAGING)
               for source in document.get("sources", [])}
    assert sources, "no source declared under models/staging"
    for name, folder in sources.items():
        assert folder == STAGING / name, f"source {name} is declared in {folder}, not models/staging/{name}/"
        assert (folder / f"_{name}__sources.yml").exists()
    for model, path in model_files(STAGING).items():
        source = path.parent.name
        assert path.parent.parent == STAGING and source in sources, (
            f"{path.relative_to(DBT_PROJECT_DIR)}: staging models live in models/staging/<source>/")
        assert model.startswith(f"stg_{source}__"), f"{model} is in models/staging/{source}/"
        read = set(re.findall(r"source\(\s*'([^']+)'", path.read_text()))
        assert read == {source}, f"{model} reads the sources {read}, not only {source}"


def test_source_calls_appear_only_in_staging():
    outside = [path.relative_to(DBT_PROJECT_DIR) for path in model_files(MODELS).values()
               if STAGING not in path.parents and re.search(r"\bsource\(", path.read_text())]
    assert outside == []


def test_every_model_is_declared_in_a_yml_with_a_primary_key_test():
    declared = declared_models()
    assert set(model_files(MODELS)) <= set(declared), "a model without a yml entry escapes its tests"
    assert [name for name, model in declared.items() if not primary_key_tests(model)] == []


@pytest.mark.parametrize("name", sorted(model_files(ROLLUPS)))
def test_a_rollup_proves_its_grain_with_the_combination_test(name):
    model = declared_models()[name]
    [grain] = [constraint["columns"] for constraint in model.get("constraints", [])
               if constraint["type"] == "primary_key"]
    assert tuple(grain) in primary_key_tests(model)


def test_the_combination_test_is_defined_in_the_project():
    definitions = [path for path in (DBT_PROJECT_DIR / "tests" / "generic").glob("*.sql")
                   if re.search(rf"{{%-?\s*test\s+{COMBINATION_TEST}\(", path.read_text())]
    assert len(definitions) == 1
