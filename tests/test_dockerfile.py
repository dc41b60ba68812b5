"""The Dockerfile agrees with the project: Python version, requirements, port, command, health, user."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from FileStream.config import VARIABLES

REPO = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def _all(keyword: str) -> list[str]:
    return [args for kw, args in _instructions() if kw == keyword]


def _last(keyword: str) -> str:
    found = _all(keyword)
    assert found, f"no {keyword} in the Dockerfile"
    return found[-1]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    start = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[start:]


def _project_python() -> str:
    readme = REPO / "README.md"
    if readme.exists():
        stated = re.search(r"Python (3\.\d+)", readme.read_text())
        if stated:
            return stated.group(1)
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _default(name: str) -> str:
    return next(default for var, default, _ in VARIABLES if var == name)


def test_every_stage_uses_the_projects_python_slim_image() -> None:
    bases = _all("FROM")
    assert bases
    for base in bases:
        image = base.split()[0]
        assert image == f"python:{_project_python()}-slim", base


def test_build_tools_for_tgcrypto_are_installed() -> None:
    assert any("build-essential" in run for run in _all("RUN"))


def test_the_requirements_file_installed_is_requirements_txt_and_exists() -> None:
    assert (REPO / "requirements.txt").is_file()
    copies = " ".join(_all("COPY"))
    assert re.search(r"(^|\s)requirements\.txt\s", copies)
    pip_runs = [run for run in _all("RUN") if re.search(r"\bpip (install|wheel)\b.*-r\s+(\S+)", run)]
    assert pip_runs and all(re.search(r"-r\s+requirements\.txt\b", run) for run in pip_runs)


def test_the_package_and_the_migration_script_are_copied() -> None:
    final = [args for kw, args in _final_stage() if kw == "COPY"]
    assert any(args.split()[0] == "FileStream" for args in final)
    assert any(args.split()[0] == "migrate_files.py" for args in final)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for needed in ("!FileStream/", "!migrate_files.py", "!requirements.txt"):
        assert needed in ignored
    assert "**/.env" in ignored and "**/*.session" in ignored


def test_the_exposed_port_is_the_default_port() -> None:
    assert _last("EXPOSE").split() == [_default("PORT")]


def test_the_command_runs_the_package() -> None:
    assert json.loads(_last("CMD")) == ["python", "-m", "FileStream"]


def test_the_healthcheck_asks_health_on_the_port_with_the_standard_library() -> None:
    check = _last("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval" in options and "--timeout" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    assert "urllib.request" in code and "curl" not in code
    assert "http://127.0.0.1:" in code and "/health" in code
    assert f"'PORT', '{_default('PORT')}'" in code
    compile(code, "<healthcheck>", "exec")


def test_the_service_runs_as_a_user_that_is_not_root() -> None:
    users = [args for kw, args in _final_stage() if kw == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    instructions = _final_stage()
    user_at = max(i for i, (kw, _) in enumerate(instructions) if kw == "USER")
    cmd_at = max(i for i, (kw, _) in enumerate(instructions) if kw == "CMD")
    assert user_at < cmd_at
