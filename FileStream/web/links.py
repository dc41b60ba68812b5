"""From a link token in a URL to the file it opens, or the page that says why it does not."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import CopyNotNow, CopyRefused
from FileStream.core.tokens import LinkClaim, log_ref, make_link_token, read_link_token
from FileStream.i18n import N_, _, duration, ngettext
from FileStream.web.client_address import client_address
from FileStream.web.context import CONTEXT, WebContext, message_page, route_of

log = logging.getLogger(__name__)

# When the database does not answer a lookup in time (its deadline is the FileLookup's),
# the client is asked to come back this much later.
LOOKUP_RETRY_AFTER_SECONDS = 5

# FileStreamBot's links named a file by its MongoDB ObjectId: 24 lowercase hex digits.
_LEGACY_ID = re.compile(r"[0-9a-f]{24}")


@dataclass(frozen=True, slots=True)
class OpenLink:
    """A link that works right now. `token` is a signed link token, also for an old link."""

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


# A migrated file whose old id Telegram no longer accepts (core.storage_copy.CopyRefused).
GONE_TITLE = N_("This file can no longer be fetched")
GONE_WORDS = N_("Telegram no longer accepts this file's id, so the file cannot be fetched any more. "
                "Ask the person who shared it to send it to the bot again.")


def link_not_found(request: web.Request) -> LinkRefused:
    return LinkRefused(message_page(
        request, 404, _("Link not found"),
        _("This link does not exist or was mistyped. Ask the person who shared it for a new one."),
    ))


_GONE = {
    "file": N_("The file behind this link is no longer available. Send the file to the bot again to get a new link."),
    "bundle": N_("The files behind this link are no longer available. Send them to the bot again to get a new link."),
}


def link_expired(request: web.Request, what: str = "file") -> LinkRefused:
    return LinkRefused(message_page(request, 410, _("This link has expired"), _(_GONE[what])))


def lookup_failed(request: web.Request, what: str = "file") -> LinkRefused:
    words = (_("The service cannot look up this file right now. Please try again in a few seconds.") if what == "file"
             else _("The service cannot look up this bundle right now. Please try again in a few seconds."))
    return LinkRefused(message_page(
        request, 503, _("Temporarily unavailable"), words,
        **{"Retry-After": str(LOOKUP_RETRY_AFTER_SECONDS)},
    ))


async def open_link(request: web.Request, *, legacy_shape: bool = False) -> OpenLink:
    """The file behind the request's {token}; raises LinkRefused with a 404/410/503 page.

    legacy_shape: the route also answers FileStreamBot's old links, whose {token} is the
    ObjectId of a migrated record (when the app was given `legacy`).
    """
    ctx = request.app[CONTEXT]
    token = request.match_info["token"]
    now = ctx.clock()
    old_link = legacy_shape and _LEGACY_ID.fullmatch(token) is not None
    if old_link:
        claim = await _legacy_claim(request, ctx, token)
    else:
        found = read_link_token(ctx.link_secret, token)
        if found is None:
            # The token itself is a capability: never log it, nor the path that holds it.
            log.info("refused %s: malformed or forged link token", route_of(request))
            raise link_not_found(request)
        claim = found
    ref = log_ref(claim.file_id)
    # Checked before the lookup so an expired link says "expired" even once its record is gone.
    if claim.is_expired(now):
        log.info("refused file %s: link expired at %s", ref, claim.expires_at)
        raise link_expired(request)
    try:
        file = await ctx.files.get_file(claim.file_id)
    except Exception as exc:  # the database is down or slow: say so, keep the traceback out of the way
        log.warning("file lookup for %s failed: %r", ref, exc)
        raise lookup_failed(request) from exc
    if file is None:
        log.info("refused file %s: no such record (deleted?)", ref)
        raise link_not_found(request)
    if file.is_expired(now):
        log.info("refused file %s: record expired at %s", ref, file.expires_at)
        raise link_expired(request)
    await within_traffic_limit(request, file.owner_id, file.source)
    file = await _with_storage_copy(request, ctx, file)
    if old_link:
        # Pages built from this link (the player's media URL) get the signed shape.
        token = make_link_token(ctx.link_secret, file.id, file.expires_at)
    return OpenLink(token=token, claim=claim, file=file, now=now)


async def within_traffic_limit(request: web.Request, owner_id: int | None, source: str) -> None:
    """Raises LinkRefused with a 429 page when the person who shared the link is over today's
    traffic limit (TRAFFIC_LIMIT_MB); Retry-After says when the day's count starts again."""
    ctx = request.app[CONTEXT]
    if ctx.traffic is None:
        return
    retry_after = await ctx.traffic.refused_for(owner_id, source)
    if retry_after is None:
        return
    log.info("refused %s: its owner is over today's traffic limit", route_of(request))
    raise LinkRefused(message_page(
        request, 429, _("Daily traffic limit reached"),
        _("The person who shared this link has used up today's traffic on this server. "
          "The link works again in {duration}, at midnight UTC.").format(duration=duration(retry_after)),
        **{"Retry-After": str(retry_after)},
    ))


async def _legacy_claim(request: web.Request, ctx: WebContext, legacy_id: str) -> LinkClaim:
    """An old link of a migrated file was a permanent link: it claims the file, no expiry of its own."""
    if ctx.legacy is None:
        log.info("refused %s with an old id: old FileStreamBot links are off (LEGACY_LINKS)", route_of(request))
        raise link_not_found(request)
    address = client_address(request)
    wait = ctx.guesses.wait_seconds(address) if ctx.guesses is not None else 0
    if wait:
        # Old ids are guessable (a time and a counter): an address that keeps missing waits.
        log.info("refused %s with an old id: too many misses from this address", route_of(request))
        raise LinkRefused(message_page(
            request, 429, _("Too many unknown links"),
            ngettext("Too many links from your address named no file. Please try again in {count} second.",
                     "Too many links from your address named no file. Please try again in {count} seconds.",
                     wait).format(count=wait),
            **{"Retry-After": str(wait)},
        ))
    try:
        file_id = await ctx.legacy.file_id_for_legacy(legacy_id)
    except Exception as exc:
        log.warning("old link lookup failed: %r", exc)  # the old id opens the file: never logged
        raise lookup_failed(request) from exc
    if file_id is None:
        if ctx.guesses is not None:
            ctx.guesses.missed(address)
        log.info("refused %s with an old id: no migrated file has this id", route_of(request))
        raise link_not_found(request)
    return LinkClaim(file_id=file_id, expires_at=None)


async def _with_storage_copy(request: web.Request, ctx: WebContext, file: StoredFile) -> StoredFile:
    """A migrated file gets its storage copy the first time one of its links is used."""
    if ctx.copies is None or file.has_storage_copy:
        return file
    try:
        return await ctx.copies.ready(file)
    except CopyRefused as refused:
        # Said in the log once, by the instance that found out; here only the answer.
        log.debug("refused file %s: %s", file.ref, refused.reason)
        raise LinkRefused(message_page(request, 410, _(GONE_TITLE), _(GONE_WORDS))) from refused
    except CopyNotNow as later:
        log.debug("file %s: storage copy not now: %s", file.ref, later)
        raise LinkRefused(message_page(
            request, 503, _("Please try again soon"),
            ngettext("Telegram is busy preparing this file. Please try again in {count} second.",
                     "Telegram is busy preparing this file. Please try again in {count} seconds.",
                     later.retry_after).format(count=later.retry_after),
            **{"Retry-After": str(later.retry_after)},
        )) from later
    except Exception as exc:
        log.warning("file %s: storage copy failed: %r", file.ref, exc)
        raise lookup_failed(request) from exc
