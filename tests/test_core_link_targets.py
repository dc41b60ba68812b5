"""What a pasted link or id names (core/link_targets.py): every link shape the bot gives or gave, and nothing forged."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.link_targets import BUNDLE, DEEP_LINK, FILE, OLD_FILE, LinkTarget, link_target
from FileStream.core.tokens import make_bundle_token, make_link_token, new_file_id

SECRET = b"s" * 32
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)
OLD_ID = "65f1c0ffee0123456789abcd"


def test_every_link_of_a_file_names_it():
    file_id = new_file_id()
    token = make_link_token(SECRET, file_id, LATER)
    for text in (f"https://x.example/dl/{token}/a%20b.mkv", f"http://127.0.0.1:8080/stream/{token}/a.mkv",
                 f"https://x.example/watch/{token}", f"  https://x.example/base/watch/{token}?t=1  ",
                 f"x.example/dl/{token}", token, file_id):
        assert link_target(text, SECRET) == LinkTarget(FILE, file_id), text


def test_every_link_of_a_bundle_names_it_and_a_file_token_never_opens_a_bundle():
    bundle_id = new_file_id()
    token = make_bundle_token(SECRET, bundle_id, None)
    for text in (f"https://x.example/b/{token}", f"https://x.example/b/{token}/zip/Holiday%202026.zip",
                 f"https://x.example/b/{token}/m3u", token):
        assert link_target(text, SECRET) == LinkTarget(BUNDLE, bundle_id), text
    file_token = make_link_token(SECRET, bundle_id, None)
    assert link_target(f"https://x.example/b/{file_token}", SECRET) is None
    assert link_target(f"https://x.example/dl/{token}", SECRET) is None


def test_filestreambots_old_links_and_deep_links_name_a_migrated_file_by_its_old_id():
    for text in (f"https://old.example/dl/{OLD_ID}/holiday.mp4", f"https://old.example/dl/{OLD_ID}",
                 f"https://old.example/watch/{OLD_ID}", f"https://t.me/old_bot?start=file_{OLD_ID}",
                 f"t.me/old_bot?start=stream_{OLD_ID}", OLD_ID):
        assert link_target(text, SECRET) == LinkTarget(OLD_FILE, OLD_ID), text
    assert link_target(f"https://old.example/stream/{OLD_ID}", SECRET) is None, "FileStreamBot had no /stream/"


def test_our_deep_links_name_their_key():
    assert link_target("https://t.me/filestream_bot?start=file_Ab-9_xyz", SECRET) == LinkTarget(DEEP_LINK, "Ab-9_xyz")
    assert link_target("https://t.me/filestream_bot?start=stream_k3y", SECRET) == LinkTarget(DEEP_LINK, "k3y")
    assert link_target("https://t.me/filestream_bot?start=hello", SECRET) is None


def test_forged_mistyped_and_malformed_text_names_nothing():
    file_id = new_file_id()
    forged = make_link_token(b"o" * 32, file_id, LATER)
    for text in (f"https://x.example/dl/{forged}/a.mkv", "hello", "", "https://x.example/dl/", "/watch/" + "A" * 48,
                 "http://[", "https://[::1/dl/x", "é" * 4000, "\U0001F4A9", "99999999999999999999999999",
                 OLD_ID.upper(), OLD_ID[:-1], f"https://x.example/b/{forged}"):
        assert link_target(text, SECRET) is None, text


@given(st.text(max_size=300))
def test_any_text_names_at_most_something_and_never_raises(text):
    target = link_target(text, SECRET)
    assert target is None or target.kind in (FILE, BUNDLE, OLD_FILE, DEEP_LINK)
