"""Settings from the environment and .env: parsed once, validated, secrets masked."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from FileStream.core.client_address import Network, parse_networks

T = TypeVar("T")

# (name, default as written in .env.sample, what it is for). The one list of variables:
# the parser, .env.sample and the README are checked against it by tests/test_config.py.
VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("API_ID", "", "Telegram api_id from my.telegram.org (required)"),
    ("API_HASH", "", "Telegram api_hash from my.telegram.org, 32 hex characters (required)"),
    ("BOT_TOKEN", "", "main bot token from @BotFather (required)"),
    ("OWNER_ID", "", "Telegram user id(s) of the owner(s), comma or space separated (required)"),
    ("BIN_CHANNEL", "", "storage channel id, like -1001234567890; every bot must be admin there (required). Several, comma separated: new copies go to the first usable one, the next takes over when it becomes unusable"),
    ("MIRROR_CHANNEL", "", "a second storage channel (every bot admin there) that keeps a copy of every file, so links outlive the loss of a BIN_CHANNEL copy; empty: no mirror"),
    ("MULTI_BOT_MODE", "false", "use the extra bot tokens below to fetch and stream files"),
    ("MULTI_TOKENS", "", "extra bot tokens, comma separated"),
    *(
        (f"MULTI_TOKEN{n}", "", f"extra bot token {n} (MULTITOKEN{n} is read too)")
        for n in range(1, 11)
    ),
    ("DATABASE_URL", "", "MongoDB URL; empty: start an embedded database in DATA_DIR"),
    ("DATABASE_NAME", "filestream", "MongoDB database name"),
    ("PUBLIC_URL", "", "address people open links at, like https://files.example.com; empty: built from FQDN, PORT, HAS_SSL, NO_PORT"),
    ("FQDN", "", "host name for links when PUBLIC_URL is empty; empty: BIND_ADDRESS, or localhost"),
    ("HAS_SSL", "false", "links use https when PUBLIC_URL is empty"),
    ("NO_PORT", "false", "leave the port out of links when PUBLIC_URL is empty (behind a proxy on 80/443)"),
    ("BIND_ADDRESS", "0.0.0.0", "address the web server listens on"),
    ("PORT", "8080", "port the web server listens on; 0: any free port"),
    ("LINK_SECRET", "", "secret that signs links, 16+ characters; empty: generated once and kept in the database"),
    ("LEGACY_LINKS", "true", "answer the old links of files migrated from FileStreamBot (/dl/<id>, /watch/<id>, ?start=file_<id>); their ids are guessable (misses are limited per address): turn it off once people use the new links"),
    ("FILE_TTL", "3600", "seconds a file sent in private chat stays available"),
    ("CHANNEL_FILE_TTL", "0", "seconds a channel file stays available; 0: never expires"),
    ("EXPIRY_WARNING", "600", "seconds before expiry to warn the person; 0: no warning"),
    ("REQUEST_TIMEOUT", "300", "seconds a file request may take before it is timed out"),
    ("KEEP_EXPIRED_COPIES", "false", "keep a file's stored copy in BIN_CHANNEL after its links expire; false: delete it at expiry"),
    ("WORKERS", "8", "concurrent bot update handlers"),
    ("STREAM_PREFETCH", "32", "most blocks one stream holds; its window starts at 2 and grows only as the client takes bytes"),
    ("STREAM_STRIPE", "true", "spread one stream's blocks across the backend bots"),
    ("MEDIA_CONNECTIONS", "4", "connections per bot and DC for file transfers, 1 to 8 (Telegram's apps use up to 8)"),
    ("STREAM_MEMORY_MB", "256", "MiB all streams together may hold in blocks fetched ahead; each stream gets at least 2, and an eighth is kept for new streams"),
    ("REMUX_MAX", "", "videos converted for the browser at once (MKV, AC-3 sound, subtitles; needs ffmpeg); empty: one per CPU core; 0: off"),
    ("REMUX_MEMORY_MB", "512", "MiB of address space one conversion's FFmpeg child may use (Debian's FFmpeg maps over 256 before reading a byte)"),
    ("STALL_TIMEOUT", "60", "seconds a response may go without the client taking any bytes before it is cut"),
    ("STREAMS_PER_IP", "32", "responses one client address may stream at once (IPv6: per /64); more get 429 with Retry-After; 0: no limit"),
    ("TRUSTED_PROXIES", "", "IPs or CIDR ranges of proxies in front (comma separated); from these X-Forwarded-For names the client; empty: the TCP peer is the client"),
    ("AUTH_CHANNEL", "", "channel id where files posted by admins get stream/download buttons (the main bot must be admin); empty: off"),
    ("GENERATE_DOWNLOAD_LINKS", "true", "send a download link beside the stream link"),
    ("FORCE_SUB_CHANNEL", "", "channel (id or @username) people must join before using the bot; empty: none"),
    ("ALLOWED_USERS", "", "who may use the bot: Telegram user ids and/or @usernames, comma separated (the owner always may; /allow and /disallow change the list); empty: everyone"),
    ("TRAFFIC_LIMIT_MB", "0", "MiB one person's links may send per UTC day (owner and AUTH_CHANNEL files exempt); 0: no limit"),
    ("RATE_LIMIT_FILES", "10", "files one person may send per RATE_LIMIT_WINDOW; 0: no limit"),
    ("RATE_LIMIT_WINDOW", "60", "seconds of the rate limit window"),
    ("BUNDLE_MAX_FILES", "100", "files one bundle (an album, or /bundle … /done) may hold"),
    ("RATE_LIMIT_BUNDLE_FILES", "100", "files one person may send in bundles per RATE_LIMIT_BUNDLE_WINDOW (apart from RATE_LIMIT_FILES); 0: no limit"),
    ("RATE_LIMIT_BUNDLE_WINDOW", "3600", "seconds of the bundle files' window, at most 604800 (7 days); a bundle counts until this long after its last file"),
    ("INCOMING_BURST", "20", "messages and button presses one person may send at once; beyond that the bot ignores them until they slow down (files: a whole bundle at once)"),
    ("INCOMING_PER_MINUTE", "60", "messages (and files) a minute one person may send once their burst is spent"),
    ("BROADCAST_RATE", "25", "broadcast messages per second (never faster than Telegram takes, about 28)"),
    ("UPLOAD_DIR", "", "folder the owner's /upload command sends files from; empty: /upload is off"),
    ("SESSION_DIR", "sessions", "directory for bot session files"),
    ("DATA_DIR", "data", "directory for the embedded database"),
    ("LINK_ONLY", "false", "serve links only and handle no bot updates (extra instances)"),
    ("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("LOG_JSON", "false", "log one JSON object per line"),
    ("SHUTDOWN_GRACE", "10", "seconds running streams get to finish on shutdown"),
    ("METRICS_TOKEN", "", "token /metrics asks for (Authorization: Bearer <token>), 16+ characters; empty: /metrics is open to anyone"),
    ("METRICS_REFRESH", "30", "seconds between two database counts behind /metrics (files live, requests by state); scrapes in between show the last counts"),
)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_API_HASH = re.compile(r"[0-9a-fA-F]{32}")
_USERNAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")
_CHANNEL_USERNAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MIN_LINK_SECRET = 16


class ConfigError(ValueError):
    """A setting is missing or malformed; str() is one line a person can act on."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable
        self.message = message

    def __str__(self) -> str:
        return self.message


def mask_url(url: str) -> str:
    """`url` with any password replaced by ***, for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Everything FileStream reads from its environment. Durations are whole seconds."""

    api_id: int
    api_hash: str
    bot_token: str
    owner_ids: tuple[int, ...]
    bin_channel: int                    # the first of bin_channels
    bin_channels: tuple[int, ...] = ()  # every storage channel, in order; () means (bin_channel,)
    mirror_channel: int | None = None
    multi_bot_mode: bool = False
    multi_tokens: tuple[str, ...] = ()  # merged, deduplicated, without bot_token
    database_url: str | None = None     # None: the service starts an embedded database
    database_name: str = "filestream"
    public_url: str = "http://localhost:8080"  # no trailing slash
    bind_address: str = "0.0.0.0"
    port: int = 8080
    link_secret: bytes | None = None    # None: generated once and kept in the database
    legacy_links: bool = True           # FileStreamBot's unsigned links of migrated files work
    file_ttl: int = 3600
    channel_file_ttl: int = 0           # 0: channel files never expire
    expiry_warning: int = 600
    request_timeout: int = 300
    keep_expired_copies: bool = False
    workers: int = 8
    stream_prefetch: int = 32
    stream_stripe: bool = True
    media_connections: int = 4
    stream_memory_mb: int = 256
    remux_max: int | None = None        # None: one per CPU core; 0: no conversion
    remux_memory_mb: int = 512
    stall_timeout: int = 60
    streams_per_ip: int = 32            # 0: no limit
    trusted_proxies: tuple[Network, ...] = ()
    auth_channel: int | None = None
    generate_download_links: bool = True
    force_sub_channel: int | str | None = None  # a chat id, or "@username"
    allowed_users: tuple[int | str, ...] = ()  # user ids and "@username"s (lower case); empty: everyone
    traffic_limit_mb: int = 0           # 0: no limit
    rate_limit_files: int = 10          # 0: no limit
    rate_limit_window: int = 60
    bundle_max_files: int = 100
    rate_limit_bundle_files: int = 100  # 0: no limit
    rate_limit_bundle_window: int = 3600
    incoming_burst: int = 20
    incoming_per_minute: int = 60
    broadcast_rate: float = 25.0
    upload_dir: Path | None = None
    session_dir: Path = Path("sessions")
    data_dir: Path = Path("data")
    link_only: bool = False
    log_level: str = "INFO"
    log_json: bool = False
    shutdown_grace: int = 10
    metrics_token: str | None = None    # None: /metrics answers anyone
    metrics_refresh: int = 30

    _SECRETS = frozenset({"api_hash", "bot_token", "multi_tokens", "link_secret", "metrics_token"})

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self._SECRETS and value:
                text = "'***'" if not isinstance(value, tuple) else f"<{len(value)} tokens>"
            elif f.name == "database_url" and value:
                text = repr(mask_url(value))
            else:
                text = repr(value)
            shown.append(f"{f.name}={text}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def storage_channels(self) -> tuple[int, ...]:
        """Every BIN_CHANNEL, in the order new copies go to them."""
        return self.bin_channels or (self.bin_channel,)

    @staticmethod
    def all_variable_names() -> tuple[str, ...]:
        """Every variable FileStream reads (MULTITOKEN<n> is an accepted alias, not listed)."""
        return tuple(name for name, _, _ in VARIABLES)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of variables; raises ConfigError on the first bad one."""
        r = _Reader(env)
        # Read in .env.sample order so the first error reported is the first one in the file.
        api_id = r.required("API_ID", _api_id)
        api_hash = r.required("API_HASH", _api_hash)
        bot_token = r.required("BOT_TOKEN", _bot_token("BOT_TOKEN"))
        port = r.optional("PORT", _int_in("PORT", 0, 65535, "a port number (0: any free port)"), 8080)
        bind_address = r.optional("BIND_ADDRESS", str, "0.0.0.0")
        log_level = r.optional("LOG_LEVEL", _log_level, "INFO")
        owner_ids = r.required("OWNER_ID", _owner_ids)
        bin_channels = r.required("BIN_CHANNEL", _chat_ids("BIN_CHANNEL"))
        mirror_channel = r.optional("MIRROR_CHANNEL", _chat_id("MIRROR_CHANNEL"), None)
        if mirror_channel is not None and mirror_channel in bin_channels:
            raise ConfigError("MIRROR_CHANNEL", f"MIRROR_CHANNEL must be another channel than those in BIN_CHANNEL, "
                                                f"got {mirror_channel} in both")
        return cls(
            api_id=api_id,
            api_hash=api_hash,
            bot_token=bot_token,
            owner_ids=owner_ids,
            bin_channel=bin_channels[0],
            bin_channels=bin_channels,
            mirror_channel=mirror_channel,
            multi_bot_mode=r.flag("MULTI_BOT_MODE", False),
            multi_tokens=_multi_tokens(r, bot_token),
            database_url=r.optional("DATABASE_URL", _database_url, None),
            database_name=r.optional("DATABASE_NAME", _database_name, "filestream"),
            public_url=_public_url(r, bind_address, port),
            bind_address=bind_address,
            port=port,
            link_secret=r.optional("LINK_SECRET", _link_secret, None),
            legacy_links=r.flag("LEGACY_LINKS", True),
            file_ttl=r.optional("FILE_TTL", _seconds("FILE_TTL"), 3600),
            channel_file_ttl=r.optional("CHANNEL_FILE_TTL", _seconds("CHANNEL_FILE_TTL"), 0),
            expiry_warning=r.optional("EXPIRY_WARNING", _seconds("EXPIRY_WARNING"), 600),
            request_timeout=r.optional(
                "REQUEST_TIMEOUT", _int_in("REQUEST_TIMEOUT", 1, None, "a number of seconds"), 300
            ),
            keep_expired_copies=r.flag("KEEP_EXPIRED_COPIES", False),
            workers=r.optional("WORKERS", _int_in("WORKERS", 1, None, "a count"), 8),
            stream_prefetch=r.optional(
                "STREAM_PREFETCH", _int_in("STREAM_PREFETCH", 1, 64, "a count of blocks"), 32
            ),
            stream_stripe=r.flag("STREAM_STRIPE", True),
            media_connections=r.optional(
                "MEDIA_CONNECTIONS", _int_in("MEDIA_CONNECTIONS", 1, 8, "connections per bot and DC"), 4
            ),
            stream_memory_mb=r.optional(
                "STREAM_MEMORY_MB", _int_in("STREAM_MEMORY_MB", 2, None, "MiB for blocks fetched ahead"), 256
            ),
            remux_max=r.optional("REMUX_MAX", _int_in("REMUX_MAX", 0, 64, "a count of conversions"), None),
            remux_memory_mb=r.optional(
                "REMUX_MEMORY_MB", _int_in("REMUX_MEMORY_MB", 384, None, "MiB of address space per FFmpeg child"), 512
            ),
            stall_timeout=r.optional(
                "STALL_TIMEOUT", _int_in("STALL_TIMEOUT", 1, None, "a number of seconds"), 60
            ),
            streams_per_ip=r.optional(
                "STREAMS_PER_IP", _int_in("STREAMS_PER_IP", 0, None, "a count of streams, 0 for no limit"), 32
            ),
            trusted_proxies=r.optional("TRUSTED_PROXIES", _trusted_proxies, ()),
            auth_channel=r.optional("AUTH_CHANNEL", _chat_id("AUTH_CHANNEL"), None),
            generate_download_links=r.flag("GENERATE_DOWNLOAD_LINKS", True),
            force_sub_channel=r.optional("FORCE_SUB_CHANNEL", _force_sub_channel, None),
            allowed_users=r.optional("ALLOWED_USERS", _allowed_users, ()),
            traffic_limit_mb=r.optional(
                "TRAFFIC_LIMIT_MB", _int_in("TRAFFIC_LIMIT_MB", 0, None, "MiB per person per day"), 0
            ),
            rate_limit_files=r.optional(
                "RATE_LIMIT_FILES", _int_in("RATE_LIMIT_FILES", 0, None, "a count of files"), 10
            ),
            rate_limit_window=r.optional(
                "RATE_LIMIT_WINDOW", _int_in("RATE_LIMIT_WINDOW", 1, None, "a number of seconds"), 60
            ),
            bundle_max_files=r.optional(
                "BUNDLE_MAX_FILES", _int_in("BUNDLE_MAX_FILES", 1, 1000, "a count of files"), 100
            ),
            rate_limit_bundle_files=r.optional(
                "RATE_LIMIT_BUNDLE_FILES", _int_in("RATE_LIMIT_BUNDLE_FILES", 0, None, "a count of files"), 100
            ),
            rate_limit_bundle_window=r.optional(
                "RATE_LIMIT_BUNDLE_WINDOW", _int_in("RATE_LIMIT_BUNDLE_WINDOW", 1, 604800, "a number of seconds"),
                3600
            ),
            incoming_burst=r.optional(
                "INCOMING_BURST", _int_in("INCOMING_BURST", 1, None, "a count of messages"), 20
            ),
            incoming_per_minute=r.optional(
                "INCOMING_PER_MINUTE", _int_in("INCOMING_PER_MINUTE", 1, None, "a count of messages"), 60
            ),
            broadcast_rate=r.optional("BROADCAST_RATE", _broadcast_rate, 25.0),
            upload_dir=r.optional("UPLOAD_DIR", Path, None),
            session_dir=r.optional("SESSION_DIR", Path, Path("sessions")),
            data_dir=r.optional("DATA_DIR", Path, Path("data")),
            link_only=r.flag("LINK_ONLY", False),
            log_level=log_level,
            log_json=r.flag("LOG_JSON", False),
            shutdown_grace=r.optional("SHUTDOWN_GRACE", _seconds("SHUTDOWN_GRACE"), 10),
            metrics_token=r.optional("METRICS_TOKEN", _metrics_token, None),
            metrics_refresh=r.optional(
                "METRICS_REFRESH", _int_in("METRICS_REFRESH", 1, None, "a number of seconds"), 30
            ),
        )


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Settings from the process environment over `env_file` (real variables win)."""
    env: dict[str, str] = {}
    if env_file is not None:
        from dotenv import dotenv_values  # only needed here; keeps from_env dependency-free

        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ)
    return Settings.from_env(env)


class _Reader:
    """Looks variables up in one mapping; blank values count as unset."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def required(self, name: str, parse: Callable[[str], T]) -> T:
        value = self.raw(name)
        if value is None:
            raise ConfigError(name, f"{name} is missing: set it in .env (see .env.sample)")
        return parse(value)

    def optional(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw(name)
        return default if value is None else parse(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(name, f"{name} must be true or false (also 1/0, yes/no, on/off), got {value!r}")


def _int(name: str, value: str, expects: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(name, f"{name} must be a whole number ({expects}), got {value!r}") from None


def _int_in(name: str, low: int, high: int | None, what: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = _int(name, value, what)
        if number < low or (high is not None and number > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(name, f"{name} must be {bounds} ({what}), got {number}")
        return number

    return parse


def _seconds(name: str) -> Callable[[str], int]:
    return _int_in(name, 0, None, "a number of seconds")


def _api_id(value: str) -> int:
    number = _int("API_ID", value, "the api_id from my.telegram.org")
    if number <= 0:
        raise ConfigError("API_ID", f"API_ID must be a positive whole number (the api_id from my.telegram.org), got {number}")
    return number


def _api_hash(value: str) -> str:
    # The value itself is a secret, so errors describe it instead of echoing it.
    if not _API_HASH.fullmatch(value):
        raise ConfigError(
            "API_HASH",
            f"API_HASH must be 32 hexadecimal characters (the api_hash from my.telegram.org), "
            f"got {len(value)} characters",
        )
    return value.lower()


def _bot_token(name: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not _BOT_TOKEN.fullmatch(value):
            raise ConfigError(
                name,
                f"{name} must look like 123456789:AAE... (a bot token from @BotFather); "
                f"the value given does not",
            )
        return value

    return parse


def _owner_ids(value: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in re.split(r"[,\s]+", value):
        if not part:
            continue
        number = _int("OWNER_ID", part, "a Telegram user id; several may be separated by commas")
        if number not in ids:
            ids.append(number)
    if not ids:
        raise ConfigError("OWNER_ID", f"OWNER_ID must hold at least one Telegram user id, got {value!r}")
    return tuple(ids)


def _allowed_users(value: str) -> tuple[int | str, ...]:
    entries: list[int | str] = []
    for part in re.split(r"[,\s]+", value):
        if not part:
            continue
        entry = parse_person(part)
        if entry is None:
            raise ConfigError(
                "ALLOWED_USERS",
                f"ALLOWED_USERS must list Telegram user ids (like 123456789) and/or @usernames (like @alice), "
                f"comma separated; {part!r} is neither",
            )
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)


def parse_person(text: str) -> int | str | None:
    """A Telegram user id, or an "@username" in lower case (Telegram usernames ignore case); None otherwise."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        return number if 0 < number < 1 << 53 else None
    if _USERNAME.fullmatch(text):
        return text.lower()
    return None


def _chat_id(name: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = _int(name, value, "a channel id like -1001234567890")
        if number >= 0:
            raise ConfigError(name, f"{name} must be a channel id, a negative number like -1001234567890, got {number}")
        return number

    return parse


def _chat_ids(name: str) -> Callable[[str], tuple[int, ...]]:
    one = _chat_id(name)

    def parse(value: str) -> tuple[int, ...]:
        ids = tuple(one(part.strip()) for part in value.split(",") if part.strip())
        if not ids:
            raise ConfigError(name, f"{name} must hold at least one channel id like -1001234567890, got {value!r}")
        if len(set(ids)) != len(ids):
            raise ConfigError(name, f"{name} lists a channel twice: {value!r}")
        return ids

    return parse


def _force_sub_channel(value: str) -> int | str:
    if value.startswith("@"):
        if not _CHANNEL_USERNAME.fullmatch(value):
            raise ConfigError(
                "FORCE_SUB_CHANNEL",
                f"FORCE_SUB_CHANNEL must be a channel id like -1001234567890 or a username like @mychannel, got {value!r}",
            )
        return value
    return _chat_id("FORCE_SUB_CHANNEL")(value)


def _multi_tokens(r: _Reader, bot_token: str) -> tuple[str, ...]:
    found: list[tuple[str, str]] = []
    if (listed := r.raw("MULTI_TOKENS")) is not None:
        found += [("MULTI_TOKENS", t) for t in re.split(r"[,\s]+", listed) if t]
    for n in range(1, 11):
        for name in (f"MULTI_TOKEN{n}", f"MULTITOKEN{n}"):
            if (token := r.raw(name)) is not None:
                found.append((name, token))
    tokens: list[str] = []
    for name, token in found:
        _bot_token(name)(token)
        if token != bot_token and token not in tokens:
            tokens.append(token)
    return tuple(tokens)


def _database_url(value: str) -> str:
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(
            "DATABASE_URL",
            f"DATABASE_URL must start with mongodb:// or mongodb+srv://, got {mask_url(value)!r}",
        )
    return value


def _database_name(value: str) -> str:
    # MongoDB refuses these characters in database names; say so before connecting.
    if re.search(r"[/\\. \"$]", value) or len(value) > 63:
        raise ConfigError(
            "DATABASE_NAME",
            f"DATABASE_NAME must be up to 63 characters without spaces or / \\ . \" $, got {value!r}",
        )
    return value


def _public_url(r: _Reader, bind_address: str, port: int) -> str:
    if (value := r.raw("PUBLIC_URL")) is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "PUBLIC_URL",
                f"PUBLIC_URL must be an http(s) address like https://files.example.com, got {value!r}",
            )
        return value.rstrip("/")
    has_ssl = r.flag("HAS_SSL", False)
    no_port = r.flag("NO_PORT", False)
    # 0.0.0.0 is where we listen, not a place a browser can go.
    fallback = "localhost" if bind_address in ("0.0.0.0", "::", "") else bind_address
    host = r.optional("FQDN", _fqdn, fallback)
    scheme = "https" if has_ssl else "http"
    default_port = 443 if has_ssl else 80
    suffix = "" if no_port or port == default_port else f":{port}"
    return f"{scheme}://{host}{suffix}"


def _fqdn(value: str) -> str:
    host = value.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not host or "/" in host or " " in host:
        raise ConfigError("FQDN", f"FQDN must be a host name like files.example.com, got {value!r}")
    return host


def _link_secret(value: str) -> bytes:
    if len(value) < _MIN_LINK_SECRET:
        raise ConfigError(
            "LINK_SECRET",
            f"LINK_SECRET must be at least {_MIN_LINK_SECRET} characters (a long random string), "
            f"got {len(value)} characters",
        )
    return value.encode()


def _metrics_token(value: str) -> str:
    # Sent in an HTTP header: visible ASCII only. The value is a secret, so errors describe it.
    if len(value) < _MIN_LINK_SECRET or not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            "METRICS_TOKEN",
            f"METRICS_TOKEN must be at least {_MIN_LINK_SECRET} visible ASCII characters without spaces "
            f"(a long random string), got {len(value)} characters",
        )
    return value


def _trusted_proxies(value: str) -> tuple[Network, ...]:
    try:
        return parse_networks(value)
    except ValueError as error:
        raise ConfigError(
            "TRUSTED_PROXIES",
            f"TRUSTED_PROXIES must list IP addresses or CIDR ranges separated by commas, like 172.16.0.0/12: {error}",
        ) from None


def _broadcast_rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0 < rate <= 1000:
        raise ConfigError(
            "BROADCAST_RATE", f"BROADCAST_RATE must be a number of messages per second above 0, got {value!r}"
        )
    return rate


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in _LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level
