"""Settings and `python -m FileStream`: variables parsed, errors named, secrets hidden, exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from FileStream.config import VARIABLES, ConfigError, Settings, load_settings, mask_url

REPO = Path(__file__).resolve().parent.parent
API_HASH = "0123456789abcdef0123456789abcdef"
TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ab"
TOKEN_B = "223456789:BBEhBOweik6ad9r_QXMENQjcrGbqCr4K-ab"
TOKEN_C = "323456789:CCEhBOweik6ad9r_QXMENQjcrGbqCr4K-ab"
REQUIRED = {
    "API_ID": "12345",
    "API_HASH": API_HASH,
    "BOT_TOKEN": TOKEN,
    "OWNER_ID": "111",
    "BIN_CHANNEL": "-1001234567890",
}


def settings(**extra: str) -> Settings:
    return Settings.from_env({**REQUIRED, **extra})


def config_error(**extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings(**extra)
    return caught.value


def test_defaults():
    s = settings()
    assert (s.api_id, s.api_hash, s.bot_token, s.owner_ids, s.bin_channel) == (
        12345, API_HASH, TOKEN, (111,), -1001234567890,
    )
    assert s.multi_bot_mode is False and s.multi_tokens == ()
    assert s.database_url is None and s.database_name == "filestream"
    assert s.public_url == "http://localhost:8080"
    assert (s.bind_address, s.port) == ("0.0.0.0", 8080)
    assert s.link_secret is None and s.legacy_links is True
    assert (s.file_ttl, s.channel_file_ttl, s.expiry_warning, s.request_timeout) == (3600, 0, 600, 300)
    assert (s.workers, s.stream_prefetch, s.stream_stripe) == (8, 32, True)
    assert (s.media_connections, s.stream_memory_mb) == (4, 256)
    assert s.auth_channel is None and s.force_sub_channel is None
    assert s.generate_download_links is True
    assert (s.rate_limit_files, s.rate_limit_window, s.broadcast_rate) == (10, 60, 25.0)
    assert s.upload_dir is None and s.session_dir == Path("sessions") and s.data_dir == Path("data")
    assert s.link_only is False and s.log_level == "INFO" and s.log_json is False
    assert s.shutdown_grace == 10


def test_every_variable_parsed():
    s = settings(
        OWNER_ID="1, 2 3,2",
        MULTI_BOT_MODE="yes",
        MULTI_TOKENS=TOKEN_B,
        DATABASE_URL="mongodb://app:hunter2@db.example.com:27017/?authSource=admin",
        DATABASE_NAME="fs_prod",
        PUBLIC_URL="https://files.example.com/",
        BIND_ADDRESS="127.0.0.1",
        PORT="9000",
        LINK_SECRET="s" * 32,
        LEGACY_LINKS="no",
        FILE_TTL="7200",
        CHANNEL_FILE_TTL="86400",
        EXPIRY_WARNING="300",
        REQUEST_TIMEOUT="120",
        WORKERS="4",
        STREAM_PREFETCH="16",
        STREAM_STRIPE="off",
        AUTH_CHANNEL="-1009",
        GENERATE_DOWNLOAD_LINKS="0",
        FORCE_SUB_CHANNEL="@my_channel",
        RATE_LIMIT_FILES="5",
        RATE_LIMIT_WINDOW="30",
        BROADCAST_RATE="12.5",
        UPLOAD_DIR="/srv/uploads",
        SESSION_DIR="/srv/sessions",
        DATA_DIR="/srv/data",
        LINK_ONLY="TRUE",
        LOG_LEVEL="debug",
        LOG_JSON="On",
        SHUTDOWN_GRACE="30",
    )
    assert s.owner_ids == (1, 2, 3)
    assert s.multi_bot_mode is True and s.multi_tokens == (TOKEN_B,)
    assert s.database_url == "mongodb://app:hunter2@db.example.com:27017/?authSource=admin"
    assert s.database_name == "fs_prod"
    assert s.public_url == "https://files.example.com"
    assert (s.bind_address, s.port) == ("127.0.0.1", 9000)
    assert s.link_secret == b"s" * 32 and s.legacy_links is False
    assert (s.file_ttl, s.channel_file_ttl, s.expiry_warning, s.request_timeout) == (7200, 86400, 300, 120)
    assert (s.workers, s.stream_prefetch, s.stream_stripe) == (4, 16, False)
    assert s.auth_channel == -1009 and s.force_sub_channel == "@my_channel"
    assert s.generate_download_links is False
    assert (s.rate_limit_files, s.rate_limit_window, s.broadcast_rate) == (5, 30, 12.5)
    assert s.upload_dir == Path("/srv/uploads")
    assert (s.session_dir, s.data_dir) == (Path("/srv/sessions"), Path("/srv/data"))
    assert s.link_only is True and s.log_level == "DEBUG" and s.log_json is True
    assert s.shutdown_grace == 30
    assert settings(FORCE_SUB_CHANNEL="-1005").force_sub_channel == -1005


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "http://localhost:8080"),
        ({"FQDN": "files.example.com"}, "http://files.example.com:8080"),
        ({"FQDN": "files.example.com", "HAS_SSL": "true"}, "https://files.example.com:8080"),
        ({"FQDN": "files.example.com", "HAS_SSL": "true", "NO_PORT": "true"}, "https://files.example.com"),
        ({"FQDN": "files.example.com", "HAS_SSL": "true", "PORT": "443"}, "https://files.example.com"),
        ({"BIND_ADDRESS": "10.0.0.5", "PORT": "80"}, "http://10.0.0.5"),
        ({"PUBLIC_URL": "http://x.example/fs/", "FQDN": "ignored.example"}, "http://x.example/fs"),
    ],
)
def test_public_url(extra, expected):
    assert settings(**extra).public_url == expected


def test_allowed_users_take_ids_and_usernames_in_any_case_once_each():
    parsed = settings(ALLOWED_USERS="123456789, @Alice_B,@alice_b 42").allowed_users
    assert parsed == (123456789, "@alice_b", 42)
    assert settings().allowed_users == ()


def test_blank_values_count_as_unset():
    assert settings(PORT="", DATABASE_URL="  ", LINK_SECRET="").port == 8080


@pytest.mark.parametrize("text", ["true", "1", "YES", "On"])
def test_booleans_true(text):
    assert settings(LINK_ONLY=text).link_only is True


@pytest.mark.parametrize("text", ["false", "0", "No", "OFF"])
def test_booleans_false(text):
    assert settings(STREAM_STRIPE=text).stream_stripe is False


def test_multi_tokens_merge_both_spellings_dedup_and_drop_main():
    s = settings(
        MULTI_TOKENS=f"{TOKEN_C}, {TOKEN}",
        MULTI_TOKEN1=TOKEN_B,
        MULTITOKEN2=TOKEN_C,
        MULTI_TOKEN10=TOKEN,
        MULTITOKEN10=TOKEN_B,
    )
    assert s.multi_tokens == (TOKEN_C, TOKEN_B)


@pytest.mark.parametrize(
    ("extra", "variable", "words"),
    [
        ({"API_ID": "abc"}, "API_ID", "API_ID must be a whole number (the api_id from my.telegram.org), got 'abc'"),
        ({"API_HASH": "xyz"}, "API_HASH", "32 hexadecimal"),
        ({"BOT_TOKEN": "nope"}, "BOT_TOKEN", "@BotFather"),
        ({"OWNER_ID": "1,two"}, "OWNER_ID", "'two'"),
        ({"BIN_CHANNEL": "1234"}, "BIN_CHANNEL", "negative"),
        ({"MULTI_BOT_MODE": "maybe"}, "MULTI_BOT_MODE", "true or false"),
        ({"MULTI_TOKEN3": "bad"}, "MULTI_TOKEN3", "@BotFather"),
        ({"MULTITOKEN4": "bad"}, "MULTITOKEN4", "@BotFather"),
        ({"MULTI_TOKENS": f"{TOKEN_B},bad"}, "MULTI_TOKENS", "@BotFather"),
        ({"DATABASE_URL": "postgres://u:secretpw@h/db"}, "DATABASE_URL", "mongodb://"),
        ({"DATABASE_NAME": "a.b"}, "DATABASE_NAME", "'a.b'"),
        ({"PUBLIC_URL": "files.example.com"}, "PUBLIC_URL", "https://"),
        ({"FQDN": "a b"}, "FQDN", "host name"),
        ({"HAS_SSL": "2"}, "HAS_SSL", "true or false"),
        ({"NO_PORT": "x"}, "NO_PORT", "true or false"),
        ({"PORT": "70000"}, "PORT", "between 0 and 65535"),
        ({"LINK_SECRET": "short"}, "LINK_SECRET", "at least 16"),
        ({"FILE_TTL": "1h"}, "FILE_TTL", "seconds"),
        ({"CHANNEL_FILE_TTL": "-1"}, "CHANNEL_FILE_TTL", "at least 0"),
        ({"EXPIRY_WARNING": "x"}, "EXPIRY_WARNING", "seconds"),
        ({"REQUEST_TIMEOUT": "0"}, "REQUEST_TIMEOUT", "at least 1"),
        ({"WORKERS": "0"}, "WORKERS", "at least 1"),
        ({"STREAM_PREFETCH": "1000"}, "STREAM_PREFETCH", "between 1 and 64"),
        ({"STREAM_STRIPE": "sometimes"}, "STREAM_STRIPE", "true or false"),
        ({"MEDIA_CONNECTIONS": "9"}, "MEDIA_CONNECTIONS", "between 1 and 8"),
        ({"MEDIA_CONNECTIONS": "0"}, "MEDIA_CONNECTIONS", "between 1 and 8"),
        ({"STREAM_MEMORY_MB": "1"}, "STREAM_MEMORY_MB", "at least 2"),
        ({"AUTH_CHANNEL": "abc"}, "AUTH_CHANNEL", "whole number"),
        ({"GENERATE_DOWNLOAD_LINKS": "y"}, "GENERATE_DOWNLOAD_LINKS", "true or false"),
        ({"FORCE_SUB_CHANNEL": "@a"}, "FORCE_SUB_CHANNEL", "@mychannel"),
        ({"ALLOWED_USERS": "123, alice"}, "ALLOWED_USERS", "'alice' is neither"),
        ({"ALLOWED_USERS": "@al"}, "ALLOWED_USERS", "@usernames"),
        ({"ALLOWED_USERS": "-5"}, "ALLOWED_USERS", "user ids"),
        ({"TRAFFIC_LIMIT_MB": "lots"}, "TRAFFIC_LIMIT_MB", "whole number"),
        ({"RATE_LIMIT_FILES": "-2"}, "RATE_LIMIT_FILES", "at least 0"),
        ({"RATE_LIMIT_WINDOW": "0"}, "RATE_LIMIT_WINDOW", "at least 1"),
        ({"BROADCAST_RATE": "fast"}, "BROADCAST_RATE", "per second"),
        ({"LINK_ONLY": "nah"}, "LINK_ONLY", "true or false"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "DEBUG, INFO"),
        ({"LOG_JSON": "json"}, "LOG_JSON", "true or false"),
        ({"SHUTDOWN_GRACE": "soon"}, "SHUTDOWN_GRACE", "seconds"),
    ],
)
def test_errors_name_the_variable(extra, variable, words):
    error = config_error(**extra)
    assert error.variable == variable
    text = str(error)
    assert text.startswith(variable + " ") and "\n" not in text
    assert words in text


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_missing_required(missing):
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == f"{missing} is missing: set it in .env (see .env.sample)"


def test_secrets_never_shown():
    s = settings(
        MULTI_TOKEN1=TOKEN_B,
        LINK_SECRET="link-secret-value-1234",
        DATABASE_URL="mongodb://app:hunter2@db.example.com/",
    )
    for text in (repr(s), str(s), f"{s}"):
        for secret in (API_HASH, TOKEN, TOKEN_B, "link-secret-value-1234", "hunter2"):
            assert secret not in text
        assert "db.example.com" in text and "api_id=12345" in text


def test_metrics_token_is_a_long_visible_secret():
    assert settings().metrics_token is None and settings().metrics_refresh == 30
    s = settings(METRICS_TOKEN="metrics-token-value-1234", METRICS_REFRESH="5")
    assert s.metrics_token == "metrics-token-value-1234" and s.metrics_refresh == 5
    assert "metrics-token-value-1234" not in repr(s)
    for bad in ("short", "has a space in the middle", "non-ascii-tökén-value-1234"):
        error = config_error(METRICS_TOKEN=bad)
        assert error.variable == "METRICS_TOKEN" and bad not in str(error)
    assert config_error(METRICS_REFRESH="0").variable == "METRICS_REFRESH"


def test_secret_values_not_echoed_in_errors():
    assert "hunter" not in str(config_error(API_HASH="hunter2hunter2"))
    assert "hunter" not in str(config_error(BOT_TOKEN="hunter2:hunter2"))
    assert "secretpw" not in str(config_error(DATABASE_URL="postgres://u:secretpw@h/db"))


def test_mask_url():
    assert mask_url("mongodb://u:p@h:1/x?y=1") == "mongodb://u:***@h:1/x?y=1"
    assert mask_url("mongodb://h/x") == "mongodb://h/x"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        settings().port = 1  # type: ignore[misc]


def test_load_settings_reads_env_file_and_real_env_wins(tmp_path, monkeypatch):
    for name in Settings.all_variable_names():
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in REQUIRED.items()) + "PORT=9000\nWORKERS=3\n")
    monkeypatch.setenv("PORT", "9100")
    s = load_settings(env_file)
    assert (s.api_id, s.port, s.workers) == (12345, 9100, 3)
    with pytest.raises(ConfigError, match="^API_ID is missing"):
        load_settings(None)  # the file is not read at all


def test_load_settings_without_env_file(tmp_path, monkeypatch):
    for name in Settings.all_variable_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    assert load_settings(tmp_path / "absent.env") == settings()


def test_env_sample_documents_every_variable_with_its_default():
    text = (REPO / ".env.sample").read_text()
    for name, default, _ in VARIABLES:
        if re.fullmatch(r"MULTI_TOKEN([2-9]|10)", name):
            assert f"# {name}=" in text
            continue
        line = re.search(rf"(?m)^{name}=(.*)$", text)
        assert line, f"{name} missing from .env.sample"
        assert line.group(1) == default, f"{name}: .env.sample says {line.group(1)!r}, default is {default!r}"
    # Each variable line follows a comment line that explains it.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"[A-Z_0-9]+=", line):
            assert lines[i - 1].startswith("#"), line


def test_env_sample_parses_to_the_defaults():
    from dotenv import dotenv_values

    sample = {k: v for k, v in dotenv_values(REPO / ".env.sample").items() if v}
    assert Settings.from_env({**sample, **REQUIRED}) == settings()


def run_main(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "FileStream"], env=clean, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_main_exits_2_when_bot_token_missing(tmp_path):
    env = {k: v for k, v in REQUIRED.items() if k != "BOT_TOKEN"}
    result = run_main(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "FileStream: configuration error: BOT_TOKEN is missing: set it in .env (see .env.sample)\n"
    )


def test_main_exits_2_when_api_id_not_a_number(tmp_path):
    result = run_main({**REQUIRED, "API_ID": "abc"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("FileStream: configuration error: API_ID must be a whole number")


def test_main_reads_env_file_in_working_directory(tmp_path):
    (tmp_path / ".env").write_text("API_ID=12345\nAPI_HASH=nothex\n")
    result = run_main({}, tmp_path)
    assert result.returncode == 2
    assert "API_HASH must be 32 hexadecimal characters" in result.stderr


class FakeService:
    """Stands in for FileStream.service.Service to test how __main__ drives it."""

    def __init__(self, settings, *, fail_start=False, run_for=None, signal_self=None):
        self.settings = settings
        self.calls: list[str] = []
        self.fail_start, self.run_for, self.signal_self = fail_start, run_for, signal_self
        self.closed = None

    async def start(self):
        self.calls.append("start")
        self.closed = asyncio.Event()
        if self.fail_start:
            raise RuntimeError("cannot log in")
        if self.run_for is not None:
            asyncio.get_running_loop().call_later(self.run_for, self.closed.set)
        if self.signal_self is not None:
            os.kill(os.getpid(), self.signal_self)

    async def wait_closed(self):
        await self.closed.wait()

    async def stop(self):
        self.calls.append("stop")
        if self.closed is not None:
            self.closed.set()


async def serve(**behaviour):
    from FileStream.__main__ import _serve

    made: list[FakeService] = []

    def make(settings_):
        made.append(FakeService(settings_, **behaviour))
        return made[0]

    code = await _serve(make, settings())
    return code, made[0].calls


async def test_serve_stops_on_sigterm():
    assert await serve(signal_self=signal.SIGTERM) == (0, ["start", "stop"])


async def test_serve_returns_when_service_closes():
    assert await serve(run_for=0.01) == (0, ["start", "stop"])


async def test_serve_exits_1_and_stops_when_start_fails(caplog):
    assert await serve(fail_start=True) == (1, ["start", "stop"])
    assert "cannot log in" in caplog.text
