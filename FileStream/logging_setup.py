"""Logging for the service: one line per event (text or JSON), quiet libraries, secrets masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import IO

__all__ = ["TEXT_FORMAT", "JsonFormatter", "SecretFilter", "configure_logging", "mask_secrets"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Pyrogram logs every connection, session and DC switch at INFO: useful when debugging
# Telegram itself, noise in a service log.
NOISY_LOGGERS = ("pyrogram",)

# The bot id before the colon is public (it is the bot's user id) and helps tell bots
# apart in a log; the part after it is the secret.
_BOT_TOKEN = re.compile(r"\b(\d{6,}):[A-Za-z0-9_-]{30,}")
# user:password@ in any URL (mongodb://, mongodb+srv://, but also http:// proxies). The
# password runs to the last "@" before the path, so a raw "@" in it is masked too.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^\s/]+(@)")
# Link tokens in link URLs and deep-link payloads in t.me URLs open files: a message that
# quotes one (an exception's text, a library's log) must not carry it into the log.
_LINK_TOKEN = re.compile(r"(/(?:stream|dl|watch|b|play|sub|thumb)/)[A-Za-z0-9_-]{48}")
_DEEP_LINK = re.compile(r"([?&]start=)[A-Za-z0-9_-]+")
MASK = "***"

# Marks the handler configure_logging installed, so calling it again replaces only that
# one and leaves handlers others added (pytest's caplog, an embedding application) alone.
_OURS = "_filestream_handler"


def mask_secrets(text: str, literals: Iterable[str] = ()) -> str:
    """`text` with bot tokens, URL passwords, link tokens in link URLs, deep-link payloads
    and every string in `literals` replaced by ***."""
    text = _BOT_TOKEN.sub(rf"\1:{MASK}", text)
    text = _URL_PASSWORD.sub(rf"\1{MASK}\2", text)
    text = _LINK_TOKEN.sub(rf"\1{MASK}", text)
    text = _DEEP_LINK.sub(rf"\1{MASK}", text)
    for literal in literals:
        if literal:
            text = text.replace(literal, MASK)
    return text


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and stack before any handler writes it.

    `literals`: extra secret strings to mask wherever they appear (API hash, link secret).
    Put it on a handler: a logger's filter would miss records from its child loggers.
    """

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self._literals = sorted({s for s in literals if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return True
        record.msg = mask_secrets(message, self._literals)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the masked text is what gets written.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self._literals)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self._literals)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # ensure_ascii off: file names in any script stay readable; json escapes newlines,
        # so a traceback never breaks the one-object-per-line rule.
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO",
    json_logs: bool = False,
    *,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log record at `level` or above to `stream` (stderr), one line each.

    Calling it again replaces the handler it installed before. Returns that handler.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretFilter(secrets))
    setattr(handler, _OURS, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))
    # Warnings (deprecations in libraries) go through logging too, so they get masked
    # and formatted like the rest instead of bypassing it on stderr.
    logging.captureWarnings(True)
    return handler
