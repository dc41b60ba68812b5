"""Logging setup: text and JSON lines, quiet pyrogram, secrets never written."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from FileStream.logging_setup import configure_logging, mask_secrets

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
URL = "mongodb+srv://filestream:s3cr%40t-pass@cluster0.example.net/db?retryWrites=true"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    pyrogram_level = logging.getLogger("pyrogram").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("pyrogram").setLevel(pyrogram_level)
    logging.captureWarnings(False)


def test_mask_secrets() -> None:
    assert mask_secrets(f"token {TOKEN} used") == "token 123456789:*** used"
    assert mask_secrets(URL) == "mongodb+srv://filestream:***@cluster0.example.net/db?retryWrites=true"
    assert mask_secrets("mongodb://u:p@h:27017,h2:27017/x") == "mongodb://u:***@h:27017,h2:27017/x"
    assert mask_secrets("mongodb://u:p@ss@h/x u@h") == "mongodb://u:***@h/x u@h"
    assert mask_secrets("mongodb://h:27017/x and 12345:short") == "mongodb://h:27017/x and 12345:short"
    assert mask_secrets("hash abcdef0123 here", ["abcdef0123"]) == "hash *** here"
    bundle_token = "B" * 48
    assert mask_secrets(f"GET https://f.example/b/{bundle_token}/zip/x.zip") == "GET https://f.example/b/***/zip/x.zip"


def test_text_mode_is_one_line_per_event_with_secrets_masked(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", False, stream=out)
    log = logging.getLogger("FileStream.test")
    log.info("bot %s connected to %s", TOKEN, URL)
    log.debug("not shown at INFO")
    line = out.getvalue()
    assert line.count("\n") == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO FileStream\.test: bot 123456789:\*\*\* connected to "
        r"mongodb\+srv://filestream:\*\*\*@cluster0\.example\.net/db\?retryWrites=true\n",
        line,
    )
    assert TOKEN.split(":")[1] not in line and "s3cr" not in line


def test_json_mode_is_one_object_per_line_with_the_traceback(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("debug", True, stream=out, secrets=["link-secret-value"])
    log = logging.getLogger("FileStream.web")
    log.debug("plain é")
    try:
        raise ConnectionError(f"cannot reach {URL} with link-secret-value")
    except ConnectionError:
        log.exception("database down")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "DEBUG" and first["logger"] == "FileStream.web" and first["message"] == "plain é"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert "exc_info" not in first
    assert second["level"] == "ERROR" and second["message"] == "database down"
    assert "Traceback" in second["exc_info"] and "ConnectionError" in second["exc_info"]
    assert "s3cr" not in out.getvalue() and "link-secret-value" not in out.getvalue()
    assert "filestream:***@" in second["exc_info"]


def test_pyrogram_info_is_quieted(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", False, stream=out)
    logging.getLogger("pyrogram.session.session").info("Session started")
    logging.getLogger("pyrogram.connection").warning("Connection lost")
    assert "Session started" not in out.getvalue()
    assert "Connection lost" in out.getvalue()


def test_configuring_again_replaces_only_our_handler(restore_logging: None) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", False, stream=first)
    configure_logging("WARNING", True, stream=second)
    logging.getLogger("FileStream").warning("once")
    logging.getLogger("FileStream").info("filtered")
    assert first.getvalue() == ""
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["once"]
    assert other in logging.getLogger().handlers
    logging.getLogger().removeHandler(other)


def test_an_unknown_level_is_refused_in_words(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD", False, stream=io.StringIO())
