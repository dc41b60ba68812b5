"""Which links Telegram takes in an inline button: http, https or tg, and a web link's host must have a dot."""

from __future__ import annotations

from urllib.parse import urlsplit

BUTTON_URL_SCHEMES = ("http", "https", "tg")


def telegram_takes_button_url(url: str) -> bool:
    """False for what Telegram refuses with BUTTON_URL_INVALID: another scheme, or a host
    without a dot (`http://localhost:8080`). An IP address has dots and is taken."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in BUTTON_URL_SCHEMES:
        return False
    return scheme == "tg" or "." in host.strip(".")
