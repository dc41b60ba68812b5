"""The simulated Telegram world: accounts, channels, messages, media, and the events they produce."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import random
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pyrogram import raw

from .content import BytesContent, as_content
from .home import Home

if TYPE_CHECKING:
    from .server import TelegramServer

ZERO_CHANNEL_ID = -1000000000000
# The first raw channel id pyrogram 2.0 could not represent (-1002147483647 and below).
NEW_STYLE_CHANNEL_BASE = 2_200_000_000
CALLBACK_QUERY_LIFETIME = 15.0   # seconds Telegram waits for the answer to a button press


class CallbackExpired(Exception):
    """The bot answered a button press after Telegram stopped waiting (QUERY_ID_INVALID): the
    person's client showed nothing."""


def now() -> int:
    return int(time.time())


def _random_long() -> int:
    return int.from_bytes(os.urandom(8), "little", signed=True)


def new_file_reference() -> bytes:
    return b"\x01" + os.urandom(20)


# ---------------------------------------------------------------------------- accounts
@dataclass(eq=False)
class Account:
    id: int
    first_name: str
    username: str | None
    home_dc: int
    last_name: str | None = None
    access_hash: int = field(default_factory=_random_long)
    pts: int = 1
    # (pts, event) for updates.getDifference
    update_log: list[tuple[int, "Event"]] = field(default_factory=list, repr=False)

    is_bot = False

    @property
    def name(self) -> str:
        return self.username or self.first_name

    def next_pts(self, event: "Event | None" = None) -> int:
        self.pts += 1
        if event is not None:
            self.update_log.append((self.pts, event))
            if len(self.update_log) > 5000:
                del self.update_log[:1000]
        return self.pts


@dataclass(eq=False)
class BotCommands:
    scope: Any
    lang_code: str
    commands: list[tuple[str, str]]


@dataclass(eq=False)
class Bot(Account):
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # (scope type name, lang_code) -> BotCommands; scope name like "BotCommandScopeDefault"
    commands: dict[tuple[str, str], BotCommands] = field(default_factory=dict, repr=False)

    is_bot = True

    @property
    def token(self) -> str:
        return f"{self.id}:{self.secret}"

    def commands_for(self, scope: str = "BotCommandScopeDefault", lang_code: str = "") -> list[tuple[str, str]]:
        entry = self.commands.get((scope, lang_code))
        return list(entry.commands) if entry else []


@dataclass(eq=False)
class User(Account):
    phone: str | None = None
    blocked_bots: set[int] = field(default_factory=set, repr=False)  # bots this person blocked
    deleted: bool = False  # the account was deleted: nothing can be sent to it
    lang_code: str | None = None  # the language of their Telegram app (bots see it, like Telegram shows it)

    def block(self, bot: "Bot") -> "User":
        """This person blocks `bot`: the bot's sends to them fail with USER_IS_BLOCKED."""
        self.blocked_bots.add(bot.id)
        return self

    def unblock(self, bot: "Bot") -> "User":
        self.blocked_bots.discard(bot.id)
        return self


# ---------------------------------------------------------------------------- media
# The longest side of a document's thumbnail ("m"), as Telegram makes them for videos.
DOCUMENT_THUMB_SIDE = 320


@dataclass(frozen=True)
class ImageSize:
    """One stored size of an image: a photo's size (`type` is what InputPhotoFileLocation.thumb_size
    names) or a document's preview, a video's frame or an album cover (InputDocumentFileLocation's)."""

    type: str
    w: int
    h: int
    content: Any

    @property
    def size(self) -> int:
        return self.content.size


DocumentThumb = ImageSize


# How long a file reference lasts by default. Telegram's last hours and are not published;
# this one is short enough that a long story meets FILE_REFERENCE_EXPIRED, as a long-lived
# service does. A test pins references (`world.file_references.lifetime = None`) only by saying why.
FILE_REFERENCE_LIFETIME = 30.0


@dataclass
class FileReferences:
    """The world's rule for file references: each lasts `lifetime` seconds (None: until a
    test expires it with `world.expire_file_reference`)."""

    lifetime: float | None = FILE_REFERENCE_LIFETIME
    clock: Callable[[], float] = time.monotonic  # a test may drive time by hand
    expired_by_time: int = 0  # references that ran out of time (rotated when next read)


class _Referenced:
    """A file reference that runs out with time: read it as `file_reference`."""

    _file_reference: bytes
    outlived_references: set[bytes]
    reference_issued: float
    references: FileReferences | None

    @property
    def file_reference(self) -> bytes:
        rule = self.references
        if rule is not None and rule.lifetime is not None and rule.clock() - self.reference_issued >= rule.lifetime:
            rule.expired_by_time += 1
            self.outlived_references.add(self._file_reference)
            self._renew()
        return self._file_reference

    def expire_reference(self) -> bytes:
        """A test's expiry: the old reference is refused everywhere (a file id holding it too)."""
        return self._renew()

    def sendable_by(self, file_reference: bytes) -> bool:
        """A file id re-sent by id (messages.sendMedia): one whose reference only ran out of
        time still works for the bot it was made for, as long-lived bot file ids do."""
        return file_reference == self.file_reference or file_reference in self.outlived_references

    def _renew(self) -> bytes:
        self._file_reference = new_file_reference()
        self.reference_issued = self.references.clock() if self.references is not None else time.monotonic()
        return self._file_reference


@dataclass(eq=False)
class Document(_Referenced):
    """A document as Telegram stores it: one id, one DC, one content, many messages."""

    id: int
    access_hash: int
    dc_id: int
    mime_type: str
    attributes: list[Any]
    content: Any
    date: int = field(default_factory=now)
    _file_reference: bytes = field(default_factory=new_file_reference, repr=False)
    outlived_references: set[bytes] = field(default_factory=set, repr=False)
    reference_issued: float = field(default_factory=time.monotonic, repr=False)
    references: FileReferences | None = field(default=None, repr=False)
    kind: str = "document"
    thumbs: list[DocumentThumb] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.content.size

    def thumb_of_type(self, type_: str) -> DocumentThumb | None:
        return next((t for t in self.thumbs if t.type == type_), None)

    @property
    def file_name(self) -> str | None:
        for attribute in self.attributes:
            if isinstance(attribute, raw.types.DocumentAttributeFilename):
                return attribute.file_name
        return None

    def read(self, offset: int = 0, limit: int | None = None) -> bytes:
        limit = self.size - offset if limit is None else limit
        return bytes(self.content.read(offset, limit))

# The smaller sizes Telegram keeps of a photo besides the one it was sent at: (type, longest side).
PHOTO_THUMB_SIZES = (("m", 320), ("x", 800))


PhotoSize = ImageSize


@dataclass(eq=False)
class Photo(_Referenced):
    """A photo in several sizes; the largest ("y") is the file that was sent, the others are
    smaller, different bytes, so a download of the wrong size never matches by accident."""

    id: int
    access_hash: int
    dc_id: int
    content: Any
    w: int = 1280
    h: int = 720
    date: int = field(default_factory=now)
    _file_reference: bytes = field(default_factory=new_file_reference, repr=False)
    outlived_references: set[bytes] = field(default_factory=set, repr=False)
    reference_issued: float = field(default_factory=time.monotonic, repr=False)
    references: FileReferences | None = field(default=None, repr=False)
    kind: str = "photo"
    mime_type: str = "image/jpeg"
    file_name: str | None = None
    sizes: list[PhotoSize] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sizes:
            longest = max(self.w, self.h)
            for type_, side in PHOTO_THUMB_SIZES:
                scale = side / longest
                length = max(16, min(self.content.size, int(self.content.size * scale * scale), 1 << 20))
                data = random.Random(f"{self.id}:{type_}").randbytes(length)
                self.sizes.append(PhotoSize(type_, round(self.w * scale), round(self.h * scale), BytesContent(data)))
            self.sizes.append(PhotoSize("y", self.w, self.h, self.content))

    @property
    def size(self) -> int:
        return self.content.size

    def size_of_type(self, type_: str) -> PhotoSize | None:
        return next((s for s in self.sizes if s.type == type_), None)

    def read(self, offset: int = 0, limit: int | None = None) -> bytes:
        limit = self.size - offset if limit is None else limit
        return bytes(self.content.read(offset, limit))

Media = Document | Photo


def _document_thumbs(image: bytes | None, w: int, h: int) -> list[DocumentThumb]:
    if image is None:
        return []
    scale = DOCUMENT_THUMB_SIDE / max(w, h, 1)
    return [DocumentThumb("m", round(w * scale), round(h * scale), as_content(image))]


# Every kind of media a person can send a bot.
KINDS = ("document", "video", "audio", "voice", "animation", "video_note", "photo", "sticker")
DEFAULT_MIME = {
    "document": "application/octet-stream",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "animation": "video/mp4",
    "video_note": "video/mp4",
    "photo": "image/jpeg",
    "sticker": "image/webp",
}
# Kinds Telegram gives no file name of their own (the apps send none).
NAMELESS_KINDS = ("voice", "video_note")


@dataclass(frozen=True)
class StickerSet:
    id: int
    access_hash: int
    short_name: str
    title: str

    def input(self) -> raw.types.InputStickerSetID:
        return raw.types.InputStickerSetID(id=self.id, access_hash=self.access_hash)


def attributes_for(kind: str, file_name: str | None, duration: int = 5, w: int = 1280, h: int = 720,
                   title: str | None = None, performer: str | None = None,
                   sticker_set: StickerSet | None = None, emoji: str = "\U0001F642") -> list[Any]:
    attributes: list[Any] = []
    if kind in ("video", "animation"):
        attributes.append(raw.types.DocumentAttributeVideo(duration=float(duration), w=w, h=h,
                                                           supports_streaming=True))
    if kind == "video_note":  # round, square
        side = min(w, h, 640)
        attributes.append(raw.types.DocumentAttributeVideo(duration=float(duration), w=side, h=side,
                                                           round_message=True, supports_streaming=True))
    if kind == "animation":
        attributes.append(raw.types.DocumentAttributeAnimated())
    if kind == "audio":
        attributes.append(raw.types.DocumentAttributeAudio(duration=duration, title=title, performer=performer))
    if kind == "voice":
        attributes.append(raw.types.DocumentAttributeAudio(duration=duration, voice=True))
    if kind == "sticker":
        attributes.append(raw.types.DocumentAttributeImageSize(w=512, h=512))
        stickerset = sticker_set.input() if sticker_set is not None else raw.types.InputStickerSetEmpty()
        attributes.append(raw.types.DocumentAttributeSticker(alt=emoji, stickerset=stickerset))
    if file_name and kind not in NAMELESS_KINDS:
        attributes.append(raw.types.DocumentAttributeFilename(file_name=file_name))
    return attributes


def kind_of(attributes: Iterable[Any]) -> str:
    """The kind a document's attributes make it, checked in the order the client library does."""
    attributes = list(attributes)
    video = next((a for a in attributes if isinstance(a, raw.types.DocumentAttributeVideo)), None)
    round_video = video is not None and bool(video.round_message)
    if any(isinstance(a, raw.types.DocumentAttributeAnimated) for a in attributes):
        return "video_note" if round_video else "animation"
    if any(isinstance(a, raw.types.DocumentAttributeSticker) for a in attributes):
        return "sticker"
    if video is not None:
        return "video_note" if round_video else "video"
    for a in attributes:
        if isinstance(a, raw.types.DocumentAttributeAudio):
            return "voice" if a.voice else "audio"
    return "document"


# ---------------------------------------------------------------------------- chats, messages
@dataclass(frozen=True)
class Button:
    text: str
    url: str | None = None
    callback_data: bytes | None = None


@dataclass(eq=False)
class PrivateChat:
    a: Account
    b: Account

    def other(self, account: Account) -> Account:
        return self.b if account is self.a else self.a

    def has(self, account: Account) -> bool:
        return account is self.a or account is self.b


@dataclass(frozen=True)
class AdminRights:
    """What one admin of a channel may do: each right on its own, as Telegram keeps them.
    A bot made admin of a channel gets all of them unless someone unticks one."""

    change_info: bool = True
    post_messages: bool = True
    edit_messages: bool = True     # edit messages of others
    delete_messages: bool = True   # delete messages of others
    invite_users: bool = True
    pin_messages: bool = True
    manage_call: bool = True
    other: bool = True

    def raw(self) -> raw.types.ChatAdminRights:
        return raw.types.ChatAdminRights(**{name: value or None for name, value in vars(self).items()})


@dataclass(frozen=True)
class Ban:
    by: Account | None
    date: int


def _made_at_home(change: Callable[..., Any]) -> Callable[..., Any]:
    """A change to a channel asked from another thread (a test's) is made in the world's thread."""

    @functools.wraps(change)
    def made(self: "Channel", *args: Any, **kwargs: Any) -> Any:
        return self.world.at_home(change, self, *args, **kwargs)

    return made


@dataclass(eq=False)
class Channel:
    id: int  # as pyrogram shows it: -100xxxxxxxxxx
    title: str
    world: "World" = field(repr=False)
    username: str | None = None
    access_hash: int = field(default_factory=_random_long)
    date: int = field(default_factory=now)
    admins: dict[int, Account] = field(default_factory=dict, repr=False)
    members: dict[int, Account] = field(default_factory=dict, repr=False)
    rights: dict[int, AdminRights] = field(default_factory=dict, repr=False)  # per admin
    banned: dict[int, Ban] = field(default_factory=dict, repr=False)  # kicked members, by account id
    creator: Account | None = None
    messages: dict[int, "Message"] = field(default_factory=dict, repr=False)
    last_message_id: int = 0
    pts: int = 1
    # (pts, event) for updates.getChannelDifference: what the channel's members missed
    update_log: list[tuple[int, "Event"]] = field(default_factory=list, repr=False)

    @property
    def raw_id(self) -> int:
        return ZERO_CHANNEL_ID - self.id

    @_made_at_home
    def add_admin(self, account: Account, rights: AdminRights | None = None) -> "Channel":
        self.admins[account.id] = account
        self.members[account.id] = account
        self.rights[account.id] = rights or AdminRights()
        self.banned.pop(account.id, None)
        self.world.notify()
        return self

    @_made_at_home
    def set_rights(self, account: Account, **rights: bool) -> "Channel":
        """Change some rights of an admin: `channel.set_rights(bot, edit_messages=False)`."""
        if not self.is_admin(account):
            raise ValueError(f"{account.name} is not an admin of {self.title}")
        self.rights[account.id] = replace(self.rights_of(account), **rights)
        self.world.notify()
        return self

    def rights_of(self, account: Account) -> AdminRights | None:
        """The admin rights of `account` (all of them for the creator); None for a non-admin."""
        if not self.is_admin(account):
            return None
        if self.creator is account:
            return AdminRights()
        return self.rights.get(account.id, AdminRights())

    def can(self, account: Account, right: str) -> bool:
        rights = self.rights_of(account)
        return rights is not None and getattr(rights, right)

    @_made_at_home
    def add_member(self, account: Account) -> "Channel":
        """`account` joins (a banned one cannot until unbanned)."""
        if account.id in self.banned:
            raise PermissionError(f"{account.name} is banned from {self.title}")
        self.members[account.id] = account
        self.world.notify()
        return self

    join = add_member

    @_made_at_home
    def remove(self, account: Account) -> "Channel":
        self.admins.pop(account.id, None)
        self.rights.pop(account.id, None)
        self.members.pop(account.id, None)
        self.world.notify()
        return self

    def leave(self, account: Account) -> "Channel":
        """`account` leaves the channel: getParticipant answers USER_NOT_PARTICIPANT for them."""
        return self.remove(account)

    @_made_at_home
    def kick(self, account: Account, by: Account | None = None) -> "Channel":
        """An admin removes `account` (in a channel that bans them): getParticipant answers
        ChannelParticipantBanned until `unban`."""
        self.banned[account.id] = Ban(by=by or self.creator, date=now())
        return self.remove(account)

    ban = kick

    @_made_at_home
    def unban(self, account: Account) -> "Channel":
        self.banned.pop(account.id, None)
        self.world.notify()
        return self

    def is_banned(self, account: Account) -> bool:
        return account.id in self.banned

    def is_admin(self, account: Account) -> bool:
        return account.id in self.admins

    def is_member(self, account: Account) -> bool:
        return account.id in self.members

    def can_read(self, account: Account) -> bool:
        # Bots see a broadcast channel only as its admins.
        return self.is_admin(account) if account.is_bot else self.is_member(account)


@dataclass(eq=False)
class ForwardInfo:
    date: int
    from_account: Account | None = None
    from_channel: Channel | None = None
    channel_post: int | None = None


@dataclass(eq=False)
class Message:
    id: int
    chat: PrivateChat | Channel
    sender: Account | None
    date: int
    text: str = ""
    entities: list[Any] | None = None
    media: Media | None = None
    reply_markup: Any = None
    edit_date: int | None = None
    forward: ForwardInfo | None = None
    deleted: bool = False
    version: int = 0
    random_id: int | None = None
    reply_to: int | None = None  # id of the message (same chat) this one answers
    grouped_id: int | None = None  # the album (media group) it belongs to; see albums.py

    @property
    def is_channel_post(self) -> bool:
        return isinstance(self.chat, Channel)

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    @property
    def caption(self) -> str:
        return self.text

    @property
    def document(self) -> Media | None:
        return self.media

    @property
    def buttons(self) -> list[list[Button]]:
        return buttons_of(self.reply_markup)

    def visible_to(self, account: Account) -> bool:
        if self.deleted:
            return False
        if isinstance(self.chat, Channel):
            return self.chat.can_read(account)
        return self.chat.has(account)

    def snapshot(self) -> "BotMessage":
        return BotMessage(message_id=self.id, text=self.text, buttons=self.buttons, media=self.media,
                          edited=self.edited, entities=self.entities, message=self)


def buttons_of(reply_markup: Any) -> list[list[Button]]:
    if not isinstance(reply_markup, raw.types.ReplyInlineMarkup):
        return []
    rows = []
    for row in reply_markup.rows or []:
        buttons = []
        for button in row.buttons or []:
            kind = getattr(button, "type", None)
            buttons.append(Button(text=button.text, url=getattr(kind, "url", None),
                                  callback_data=getattr(kind, "data", None)))
        rows.append(buttons)
    return rows


@dataclass(frozen=True)
class BotMessage:
    """What a person sees of one message a bot sent: a snapshot, taken when it arrived or changed."""

    message_id: int
    text: str
    buttons: list[list[Button]]
    media: Media | None
    edited: bool
    entities: Any = None
    message: Message | None = field(default=None, compare=False, repr=False)

    @property
    def flat_buttons(self) -> list[Button]:
        return [b for row in self.buttons for b in row]

    def button(self, text_part: str) -> Button:
        for b in self.flat_buttons:
            if text_part in b.text:
                return b
        raise KeyError(f"no button containing {text_part!r} in {self.buttons}")


@dataclass(frozen=True)
class PersonEvent:
    kind: str  # "new", "edit", "delete"
    message: BotMessage


# ---------------------------------------------------------------------------- events for the server
@dataclass(eq=False)
class Event:
    """Something an account must hear about: rendered for it and pushed as an update."""

    kind: str  # "new" | "edit" | "delete" | "callback"
    message: Message | None = None
    channel: Channel | None = None
    message_ids: list[int] | None = None
    pts: int = 0
    query_id: int | None = None
    data: bytes | None = None
    from_user: Account | None = None


class World:
    def __init__(self, dc_count: int = 5):
        self.dc_count = dc_count
        self.accounts: dict[int, Account] = {}
        self.file_references = FileReferences()
        self.channels: dict[int, Channel] = {}  # by raw id
        self.private_chats: dict[frozenset, PrivateChat] = {}
        self.private_messages: dict[int, Message] = {}
        self.documents: dict[int, Document] = {}
        self.photos: dict[int, Photo] = {}
        self.callback_answers: dict[int, asyncio.Future] = {}
        self.callback_log: list[dict] = []
        # Telegram waits about 15 s for a bot to answer a button press; later answers get
        # QUERY_ID_INVALID. A test shortens the wait by name (0: every answer comes too late).
        self.callback_query_lifetime: float = CALLBACK_QUERY_LIFETIME
        self.callback_pressed_at: dict[int, float] = {}   # query id -> time.monotonic() of the press
        self._ids = itertools.count(5_000_000_001, 7)
        self._bot_ids = itertools.count(7_000_000_001, 13)
        self._channel_ids = itertools.count(1_300_000_001, 11)
        self._new_channel_ids = itertools.count(NEW_STYLE_CHANNEL_BASE + 1, 11)
        self._media_ids = itertools.count(5_100_000_000_000_001, 101)
        self._private_message_ids = itertools.count(1)
        self._query_ids = itertools.count(int.from_bytes(os.urandom(6), "little") << 8)
        # The one sticker set people's stickers come from (messages.getStickerSet answers it).
        self.sticker_set = StickerSet(id=_random_long(), access_hash=_random_long(), short_name="TestAnimals",
                                      title="Test animals")
        self._changed = asyncio.Event()
        self._version = 0
        # set by the server: deliver(account, event) pushes one event to an account's sessions
        self.deliver: Callable[[Account, Event], None] = lambda account, event: None
        self.person_inboxes: dict[tuple[int, int], asyncio.Queue] = {}
        # The loop and thread the world lives in (set when its server starts); changes made
        # from another thread (a test changing a channel's admins) are made there.
        self.home: Home | None = None

    def at_home(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) in the world's own thread (here, if it has none or is in it)."""
        if self.home is None or self.home.is_here():
            return fn(*args, **kwargs)
        return self.home.call(fn, *args, **kwargs)

    # ------------------------------------------------------------------ change notification
    def notify(self) -> None:
        if self.home is not None and not self.home.is_here():
            self.home.call_soon(self.notify)   # asyncio events are not thread-safe
            return
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Re-checks `predicate` after every change of the world until it is truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ creating things
    def _check_dc(self, dc_id: int) -> int:
        if not 1 <= dc_id <= self.dc_count:
            raise ValueError(f"DC {dc_id} does not exist (1..{self.dc_count})")
        return dc_id

    def add_bot(self, username: str | None = None, home_dc: int = 2, first_name: str | None = None,
                id: int | None = None, secret: str | None = None) -> Bot:
        bot_id = id or next(self._bot_ids)
        username = username or f"test{bot_id}_bot"
        bot = Bot(id=bot_id, first_name=first_name or username, username=username,
                  home_dc=self._check_dc(home_dc))
        if secret:
            bot.secret = secret
        self.accounts[bot.id] = bot
        return bot

    def add_user(self, first_name: str = "Person", username: str | None = None, home_dc: int = 1,
                 last_name: str | None = None, id: int | None = None, lang_code: str | None = None) -> User:
        user = User(id=id or next(self._ids), first_name=first_name, username=username,
                    home_dc=self._check_dc(home_dc), last_name=last_name, lang_code=lang_code)
        self.accounts[user.id] = user
        return user

    def add_channel(self, title: str, admins: Iterable[Account] = (), members: Iterable[Account] = (),
                    username: str | None = None, id: int | None = None, new_style_id: bool = False,
                    creator: Account | None = None) -> Channel:
        """`id` is the pyrogram-style id (-100...); new_style_id picks one below -1002147483647."""
        if id is None:
            raw_id = next(self._new_channel_ids if new_style_id else self._channel_ids)
            id = ZERO_CHANNEL_ID - raw_id
        channel = Channel(id=id, title=title, world=self, username=username, creator=creator)
        self.channels[channel.raw_id] = channel
        for account in admins:
            channel.admins[account.id] = account
            channel.members[account.id] = account
            channel.rights[account.id] = AdminRights()
        for account in members:
            channel.members[account.id] = account
        if creator is not None:
            channel.admins[creator.id] = creator
            channel.members[creator.id] = creator
        return channel

    def add_media(self, data: Any, kind: str = "document", file_name: str | None = None,
                  mime_type: str | None = None, dc_id: int = 1, thumb: bytes | None = None, **attrs: Any) -> Media:
        """`thumb`: a document's preview image (JPEG bytes), kept as its "m" size: 320 px on
        the longest side of `w`×`h` (the video's size, 1280×720 unless given)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        content = as_content(data)
        media_id = next(self._media_ids)
        if kind == "photo":
            size = {k: attrs[k] for k in ("w", "h") if k in attrs}
            photo = Photo(id=media_id, access_hash=_random_long(), dc_id=self._check_dc(dc_id),
                          content=content, file_name=file_name, **size)
            self._track(photo)
            self.photos[photo.id] = photo
            return photo
        if file_name is None and kind in ("document", "video", "audio", "animation", "sticker"):
            extension = {'video': 'mp4', 'audio': 'mp3', 'animation': 'mp4', 'sticker': 'webp'}.get(kind, 'bin')
            file_name = "sticker.webp" if kind == "sticker" else f"file{media_id % 100000}.{extension}"
        if kind == "sticker":
            attrs.setdefault("sticker_set", self.sticker_set)
        document = Document(id=media_id, access_hash=_random_long(), dc_id=self._check_dc(dc_id),
                            mime_type=mime_type or DEFAULT_MIME[kind],
                            attributes=attributes_for(kind, file_name, **attrs), content=content, kind=kind,
                            thumbs=_document_thumbs(thumb, attrs.get("w", 1280), attrs.get("h", 720)))
        self._track(document)
        self.documents[document.id] = document
        return document

    def add_document_from_upload(self, content: Any, mime_type: str, attributes: list[Any], dc_id: int) -> Document:
        document = Document(id=next(self._media_ids), access_hash=_random_long(), dc_id=dc_id,
                            mime_type=mime_type, attributes=list(attributes or []), content=content,
                            kind=kind_of(attributes or []))
        self._track(document)
        self.documents[document.id] = document
        return document

    def add_photo_from_upload(self, content: Any, dc_id: int) -> Photo:
        photo = Photo(id=next(self._media_ids), access_hash=_random_long(), dc_id=dc_id, content=content)
        self._track(photo)
        self.photos[photo.id] = photo
        return photo

    def _track(self, media: Media) -> None:
        """Media whose reference runs out by the world's rule, from now."""
        media.references = self.file_references
        media.reference_issued = self.file_references.clock()

    # ------------------------------------------------------------------ lookups
    def account(self, account_id: int) -> Account | None:
        return self.accounts.get(account_id)

    def bot_by_token(self, token: str) -> Bot | None:
        bot_id, _, secret = token.partition(":")
        try:
            bot = self.accounts.get(int(bot_id))
        except ValueError:
            return None
        if isinstance(bot, Bot) and secrets.compare_digest(bot.secret, secret):
            return bot
        return None

    def by_username(self, username: str) -> Account | Channel | None:
        username = username.lower().lstrip("@")
        for account in self.accounts.values():
            if account.username and account.username.lower() == username:
                return account
        for channel in self.channels.values():
            if channel.username and channel.username.lower() == username:
                return channel
        return None

    def channel(self, channel_id: int) -> Channel | None:
        """By pyrogram id (-100...) or raw id."""
        raw_id = ZERO_CHANNEL_ID - channel_id if channel_id < 0 else channel_id
        return self.channels.get(raw_id)

    def private_chat(self, a: Account, b: Account) -> PrivateChat:
        key = frozenset((a.id, b.id))
        chat = self.private_chats.get(key)
        if chat is None:
            chat = self.private_chats[key] = PrivateChat(a, b)
        return chat

    def channel_message(self, channel: Channel | int, message_id: int) -> Message:
        channel = channel if isinstance(channel, Channel) else self.channel(channel)
        return channel.messages[message_id]

    def media(self, media_id: int) -> Media | None:
        return self.documents.get(media_id) or self.photos.get(media_id)

    def expire_file_reference(self, target: Media | Message) -> bytes:
        media = target.media if isinstance(target, Message) else target
        if media is None:
            raise ValueError("that message has no media")
        reference = media.expire_reference()
        self.notify()
        return reference

    # ------------------------------------------------------------------ acting
    def send_private(self, sender: Account, recipient: Account, text: str = "", *, media: Media | None = None,
                     entities: list[Any] | None = None, reply_markup: Any = None,
                     forward: ForwardInfo | None = None, random_id: int | None = None,
                     notify_sender: bool = False, reply_to: int | None = None) -> Message:
        chat = self.private_chat(sender, recipient)
        message = Message(id=next(self._private_message_ids), chat=chat, sender=sender, date=now(), text=text,
                          entities=entities or None, media=media, reply_markup=reply_markup, forward=forward,
                          random_id=random_id, reply_to=reply_to)
        self.private_messages[message.id] = message
        self._announce(Event("new", message=message), to=[recipient] + ([sender] if notify_sender else []))
        return message

    def post_in_channel(self, channel: Channel, sender: Account | None, text: str = "", *, media: Media | None = None,
                        entities: list[Any] | None = None, reply_markup: Any = None,
                        forward: ForwardInfo | None = None, random_id: int | None = None) -> Message:
        channel.last_message_id += 1
        message = Message(id=channel.last_message_id, chat=channel, sender=sender, date=now(), text=text,
                          entities=entities or None, media=media, reply_markup=reply_markup, forward=forward,
                          random_id=random_id)
        channel.messages[message.id] = message
        channel.pts += 1
        self._announce(Event("new", message=message, channel=channel, pts=channel.pts),
                       to=self._channel_audience(channel, exclude=sender))
        return message

    def edit(self, message: Message, editor: Account | None, *, text: str | None = None,
             entities: list[Any] | None = None, media: Media | None = None, reply_markup: Any = None,
             set_reply_markup: bool = False) -> Message:
        if text is not None:
            message.text = text
            message.entities = entities or None
        if media is not None:
            message.media = media
        if set_reply_markup:
            message.reply_markup = reply_markup
        message.edit_date = now()
        message.version += 1
        if isinstance(message.chat, Channel):
            message.chat.pts += 1
            event = Event("edit", message=message, channel=message.chat, pts=message.chat.pts)
            self._announce(event, to=self._channel_audience(message.chat, exclude=editor))
        else:
            audience = [a for a in (message.chat.a, message.chat.b) if a is not editor]
            self._announce(Event("edit", message=message), to=audience)
        return message

    def delete(self, messages: list[Message], deleter: Account | None) -> None:
        by_chat: dict[int, list[Message]] = {}
        for message in messages:
            message.deleted = True
            by_chat.setdefault(id(message.chat), []).append(message)
        for group in by_chat.values():
            chat = group[0].chat
            ids = [m.id for m in group]
            if isinstance(chat, Channel):
                chat.pts += len(ids)
                event = Event("delete", channel=chat, message_ids=ids, pts=chat.pts)
                self._announce(event, to=self._channel_audience(chat, exclude=deleter), messages=group)
            else:
                audience = [a for a in (chat.a, chat.b) if a is not deleter]
                self._announce(Event("delete", message_ids=ids), to=audience, messages=group)

    def delete_channel(self, channel: Channel) -> None:
        """The channel is deleted: every request naming it answers CHANNEL_INVALID from now on,
        and the references its messages gave out expire."""
        for message in channel.messages.values():
            if message.media is not None and not message.deleted:
                message.media.expire_reference()
        self.channels.pop(channel.raw_id, None)
        self.notify()

    def _channel_audience(self, channel: Channel, exclude: Account | None) -> list[Account]:
        return [a for a in channel.members.values() if a is not exclude and channel.can_read(a)]

    def _announce(self, event: Event, to: Iterable[Account], messages: list[Message] | None = None) -> None:
        if event.channel is not None:
            event.channel.update_log.append((event.pts, event))
            if len(event.channel.update_log) > 5000:
                del event.channel.update_log[:1000]
        for account in to:
            if isinstance(account, Bot):
                self.deliver(account, event)
            elif isinstance(account, User) and event.channel is None:
                self._to_person_inbox(account, event, messages)
        self.notify()

    def _to_person_inbox(self, person: User, event: Event, messages: list[Message] | None) -> None:
        if event.kind == "delete":
            for message in messages or []:
                if message.sender is not None:
                    self.inbox(person.id, message.sender.id).put_nowait(PersonEvent("delete", message.snapshot()))
            return
        message = event.message
        if message is None or message.sender is None or message.sender is person:
            return
        self.inbox(person.id, message.sender.id).put_nowait(PersonEvent(event.kind, message.snapshot()))

    def inbox(self, person_id: int, peer_id: int) -> asyncio.Queue:
        key = (person_id, peer_id)
        queue = self.person_inboxes.get(key)
        if queue is None:
            queue = self.person_inboxes[key] = asyncio.Queue()
        return queue

    def new_query_id(self) -> int:
        query_id = next(self._query_ids)
        self.callback_pressed_at[query_id] = time.monotonic()
        return query_id

    def callback_expired(self, query_id: int) -> bool:
        """The press is older than Telegram waits for its answer (or unknown)."""
        pressed = self.callback_pressed_at.get(query_id)
        return pressed is None or time.monotonic() - pressed >= self.callback_query_lifetime
