"""Storage channels: BIN_CHANNEL lists several, MIRROR_CHANNEL is another one, Telegram's answers
sorted into "one copy gone" and "the whole channel gone", and the owner's notice in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from clocks import Clock, real_now

from FileStream.config import ConfigError, Settings
from FileStream.core.models import StoredFile
from FileStream.jobs.expiry import ExpiryJob, ExpiryReport
from FileStream.services.posting_lease import PostingLease
from FileStream.core.storage_channels import Copy, channel_lost_words, copies_of, first_usable, gone_kind

REQUIRED = {"API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ab", "OWNER_ID": "111"}


def test_bin_channel_may_list_several_channels_in_order():
    settings = Settings.from_env({**REQUIRED, "BIN_CHANNEL": "-1001, -1002", "MIRROR_CHANNEL": "-1003"})
    assert settings.bin_channel == -1001 and settings.storage_channels == (-1001, -1002)
    assert settings.mirror_channel == -1003
    assert Settings.from_env({**REQUIRED, "BIN_CHANNEL": "-1001"}).storage_channels == (-1001,)


@pytest.mark.parametrize("env, words", [
    ({"BIN_CHANNEL": "-1001,-1001"}, "BIN_CHANNEL lists a channel twice"),
    ({"BIN_CHANNEL": "-1001,42"}, "BIN_CHANNEL must be a channel id"),
    ({"BIN_CHANNEL": " , "}, "BIN_CHANNEL must hold at least one channel id"),
    ({"BIN_CHANNEL": "-1001", "MIRROR_CHANNEL": "-1001"}, "MIRROR_CHANNEL must be another channel"),
    ({"BIN_CHANNEL": "-1001", "MIRROR_CHANNEL": "mirror"}, "MIRROR_CHANNEL"),
])
def test_a_bad_storage_setting_is_named_in_words(env, words):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**REQUIRED, **env})
    assert words in str(caught.value)


def test_telegrams_answers_say_whether_a_copy_or_a_whole_channel_is_gone():
    assert gone_kind("MESSAGE_ID_INVALID") == "copy"
    for reason in ("CHANNEL_INVALID", "CHANNEL_PRIVATE", "CHAT_ADMIN_REQUIRED", "CHAT_WRITE_FORBIDDEN"):
        assert gone_kind(reason) == "channel"
    assert gone_kind("FLOOD_WAIT_X") is None and gone_kind(None) is None


def test_a_files_copies_are_read_storage_first_then_mirror_then_the_original():
    assert copies_of((-1001, 5), (-1003, 7), (42, 1)) == [
        Copy(-1001, 5, "storage"), Copy(-1003, 7, "mirror"), Copy(42, 1, "origin")]
    assert copies_of((None, None), (-1003, None), (42, 1)) == [Copy(42, 1, "origin")]


def test_new_copies_go_to_the_first_usable_channel():
    assert first_usable((-1001, -1002, -1003), {-1001}) == -1002
    assert first_usable((-1001,), {-1001}) is None


def test_the_owner_is_told_which_channel_what_happened_and_what_the_service_does_now():
    text = channel_lost_words(-1001, "storage", "CHANNEL_PRIVATE", -1002, has_mirror=True)
    assert "-1001" in text and "removed" in text and "New files now go to channel -1002" in text
    assert "mirror copies" in text
    alone = channel_lost_words(-1001, "storage", "CHANNEL_INVALID", None, has_mirror=False)
    assert "new files cannot be stored" in alone and "no longer exists" in alone
    mirror = channel_lost_words(-1003, "mirror", "CHAT_ADMIN_REQUIRED", None, has_mirror=False)
    assert "no longer mirrored" in mirror


async def test_an_expired_files_mirror_copy_is_deleted_with_its_storage_copy(database):
    now = real_now()
    deleted: list[tuple[int, list[int]]] = []

    async def delete_copies(chat_id: int, message_ids: list[int]) -> None:
        deleted.append((chat_id, message_ids))

    async def nothing(*args) -> None:
        return None

    file = StoredFile(id="mirrored00000001", file_name="a.bin", file_size=10, mime_type="application/octet-stream",
                      file_unique_id="u1", media_type="document", dc_id=2, storage_chat_id=-1001,
                      storage_message_id=5, created_at=now - timedelta(hours=2), expires_at=now - timedelta(hours=1),
                      mirror_chat_id=-1003, mirror_message_id=9)
    await database.files.insert_confirmed(file)
    job = ExpiryJob(database.files, nothing, nothing, Clock(now), warning_seconds=0, delete_copies=delete_copies)
    assert await job.run_once() == ExpiryReport(deleted=1, copies_deleted=1)
    assert deleted == [(-1001, [5]), (-1003, [9])]


async def test_one_instance_at_a_time_holds_the_posting_lease_and_a_stopped_holders_lease_runs_out(database):
    clock = Clock(real_now())
    first, second = (PostingLease(database.leases, clock, ttl=30) for _ in range(2))
    assert await first.renew() and first.may_post()
    assert not await second.renew() and not second.may_post()
    clock.advance(seconds=20)
    assert await first.renew() and not await second.renew()   # renewed in time: still the first's
    clock.advance(seconds=31)                                  # the first stopped renewing
    assert not first.may_post()
    assert await second.renew() and second.may_post()
    assert not await first.renew()
    await second.give_up()
    assert await first.renew()
