"""From a link token in a URL to the file it opens, or the page that says why it does not."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from FileStream.core.models import StoredFile
from FileStream.core.tokens import LinkClaim, read_link_token
from FileStream.web.context import CONTEXT, message_page

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenLink:
    """A link that works right now."""

    token: str
    claim: LinkClaim
    file: StoredFile
    now: datetime

    @property
    def expires_at(self) -> datetime | None:
        """When the link stops working: the earlier of the token's and the record's expiry."""
        ends = [t for t in (self.claim.expires_at, self.file.expires_at) if t is not None]
        return min(ends) if ends else None


class LinkRefused(Exception):
    """The link cannot be served; `response` is the page that tells the person why."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def link_not_found(request: web.Request) -> LinkRefused:
    return LinkRefused(message_page(
        request, 404, "Link not found",
        "This link does not exist or was mistyped. Ask the person who shared it for a new one.",
    ))


_GONE = {
    "file": "The file behind this link is no longer available. Send the file to the bot again to get a new link.",
    "bundle": "The files behind this link are no longer available. Send them to the bot again to get a new link.",
}


def link_expired(request: web.Request, what: str = "file") -> LinkRefused:
    return LinkRefused(message_page(request, 410, "This link has expired", _GONE[what]))


def lookup_failed(request: web.Request, what: str) -> LinkRefused:
    return LinkRefused(message_page(
        request, 503, "Temporarily unavailable",
        f"The service cannot look up this {what} right now. Please try again in a minute.",
        **{"Retry-After": "60"},
    ))


async def open_link(request: web.Request) -> OpenLink:
    """The file behind the request's {token}; raises LinkRefused with a 404/410/503 page."""
    ctx = request.app[CONTEXT]
    token = request.match_info["token"]
    claim = read_link_token(ctx.link_secret, token)
    if claim is None:
        # The token itself is a capability: never log it.
        log.info("refused /%s/…: malformed or forged link token", request.path.split("/")[1])
        raise link_not_found(request)
    now = ctx.clock()
    # Checked before the lookup so an expired link says "expired" even once its record is gone.
    if claim.is_expired(now):
        log.info("refused file %s: link expired at %s", claim.file_id, claim.expires_at)
        raise link_expired(request)
    try:
        file = await ctx.files.get_file(claim.file_id)
    except Exception as exc:  # the database is down or slow: say so, keep the traceback out of the way
        log.warning("file lookup for %s failed: %r", claim.file_id, exc)
        raise lookup_failed(request, "file") from exc
    if file is None:
        log.info("refused file %s: no such record (deleted?)", claim.file_id)
        raise link_not_found(request)
    if file.is_expired(now):
        log.info("refused file %s: record expired at %s", claim.file_id, file.expires_at)
        raise link_expired(request)
    return OpenLink(token=token, claim=claim, file=file, now=now)
