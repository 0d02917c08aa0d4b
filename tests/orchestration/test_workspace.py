"""The workspace `monkeytown up` gives the Dagster webserver and daemon: one gRPC code server, under the location name
the committed workspace.yaml (python_module) gives the same code, so the instance's schedule and sensor states carry
over between the two."""

from __future__ import annotations

import subprocess
import sys

import yaml

from orchestration.workspace import CODE_LOCATION, REPOSITORY_ROOT, code_server_command, write_grpc_workspace


def test_the_generated_workspace_names_one_grpc_location_as_the_committed_one_names_its_module(tmp_path):
    path = write_grpc_workspace(tmp_path / "dagster" / "workspace.yaml", "127.0.0.1", 4321)
    (entry,) = yaml.safe_load(path.read_text())["load_from"]
    assert entry == {"grpc_server": {"host": "127.0.0.1", "port": 4321, "location_name": CODE_LOCATION}}
    (committed,) = yaml.safe_load((REPOSITORY_ROOT / "workspace.yaml").read_text())["load_from"]
    assert committed["python_module"]["module_name"] == CODE_LOCATION  # python_module's default location name


def test_the_code_server_serves_the_module_from_the_repository_under_that_name():
    command = code_server_command("dagster", "127.0.0.1", 4321)
    assert command[:3] == ["dagster", "code-server", "start"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {"--module-name": CODE_LOCATION, "--working-directory": str(REPOSITORY_ROOT),
                       "--location-name": CODE_LOCATION, "--host": "127.0.0.1", "--port": "4321"}


def test_loading_the_code_location_leaves_great_expectations_to_the_runs_that_validate():
    # the code server holds the definitions all day; GX and pandas cost it about 170 MB and every run seconds
    code = ("import sys, orchestration.definitions; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations', 'pandas', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
