"""An operator whose database or port is wrong is told so in one line, exit 2, no traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIRED = {"API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": "123456:" + "A" * 35, "OWNER_ID": "1", "BIN_CHANNEL": "-1001234567890"}


def run_service(env: dict, cwd: Path) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **REQUIRED, **env}
    return subprocess.run([sys.executable, "-m", "FileStream"], env=clean, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_database_is_named_in_words(tmp_path):
    result = run_service({"DATABASE_URL": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"},
                         tmp_path)
    assert result.returncode == 2
    assert "could not start" in result.stderr and "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_named_in_words(tmp_path, database_url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_service({"DATABASE_URL": database_url, "BIND_ADDRESS": "127.0.0.1", "PORT": str(port)}, tmp_path)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "PORT" in result.stderr
    assert "Traceback" not in result.stderr
