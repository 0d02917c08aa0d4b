"""deploy/Dockerfile, read (no container runtime here): one image whose command is `monkeytown serve <role>`, a
non-root user, the venv from constraints.txt, every COPY source present, no secret in it."""

from __future__ import annotations

import json
import re

from monkeytown.cli.serve import ROLES
from tests.deploy.files import DEPLOY, REPOSITORY

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in DOCKERFILE.splitlines()
                                                if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def test_every_copy_source_exists_in_the_build_context():
    copies = [arguments.split() for name, arguments in instructions() if name == "COPY"]
    assert copies
    for words in copies:
        sources = [word for word in words[:-1] if not word.startswith("--")]
        for source in sources:
            assert (REPOSITORY / source).exists(), source


def test_the_build_context_keeps_what_the_copies_need():
    ignored = {line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = {word for name, arguments in instructions() if name == "COPY"
              for word in arguments.split()[:-1] if not word.startswith("--")}
    assert copied & ignored == set()
    assert {".venv", ".monkeytown", ".git"} <= ignored  # the developer's venv, data and secrets stay out


def test_the_command_is_monkeytown_serve_with_the_api_by_default_and_no_entrypoint_but_tini():
    [cmd] = [json.loads(arguments) for name, arguments in instructions() if name == "CMD"]
    assert cmd[:2] == ["monkeytown", "serve"] and cmd[2] in ROLES and cmd[2] == "api"
    # Dagster's chart gives the user-code container its command as args: an entrypoint other than an init would
    # swallow them
    [entrypoint] = [json.loads(arguments) for name, arguments in instructions() if name == "ENTRYPOINT"]
    assert entrypoint == ["tini", "--"]


def test_it_runs_as_a_non_root_user():
    users = [arguments.strip() for name, arguments in instructions() if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert f"--uid {10001}" in DOCKERFILE


def test_the_venv_is_built_from_constraints_txt():
    runs = " ".join(arguments for name, arguments in instructions() if name == "RUN")
    installs = re.findall(r"uv pip install [^&]*", runs)
    assert installs and all("-c constraints.txt" in install or "--no-deps" in install for install in installs)
    assert "-r pyproject.toml --extra k8s" in runs  # the K8sRunLauncher the chart's runs load


def test_no_secret_is_baked_in():
    environment = " ".join(arguments for name, arguments in instructions() if name in ("ENV", "ARG"))
    assert not re.search(r"MONKEYTOWN_\w*(_KEYS?|_SECRET|_PASSWORD|DATABASE_URL)\b|AWS_SECRET|PGPASSWORD", environment)
    assert "MONKEYTOWN_HOME" in environment  # the check reads the ENV lines at all
