"""Every kind of media a person can send gets working links, and each downloads exactly as sent."""

from __future__ import annotations

import logging

from service_harness import URL, http_client, links_in, make_world, running_service, until_links
from tgserver.world import KINDS


def made_of(kind: str) -> bytes:
    return (f"<{kind}>".encode() * 4000)[: 20_000 + len(kind)]


async def test_one_file_of_each_kind_gets_links_and_downloads_exactly(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        links = {}
        for kind in KINDS:
            await person.send_file(bot, made_of(kind), kind=kind, dc_id=4)
            reply, links[kind] = await until_links(world, await person.next_message(bot))
            assert links[kind] is not None, f"{kind}: {reply.text}"
        stored = {doc["media_type"]: doc async for doc in service.db.db["files"].find({"owner_id": person.id})}
        assert sorted(stored) == sorted(KINDS)
        async with http_client() as http:
            for kind in KINDS:
                async with http.get(links[kind].download) as response:
                    assert response.status == 200, kind
                    assert await response.read() == made_of(kind), f"{kind} downloads as sent"
                    assert response.headers["Content-Type"].split(";")[0] == stored[kind]["mime_type"]
                async with http.get(links[kind].watch) as response:
                    assert response.status == 200, kind
    photo = next(m for m in telegram.world.photos.values())
    assert len(photo.sizes) > 1, "the photo had smaller sizes too; the links serve the largest"


async def test_with_a_public_url_telegram_refuses_in_buttons_the_links_come_as_text(telegram, stack_settings, caplog):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    caplog.set_level(logging.INFO)
    async with running_service(stack_settings(world, PUBLIC_URL="http://localhost:0")) as service:
        await person.send_file(bot, b"plain text links", file_name="plain.txt", mime_type="text/plain")
        reply = await person.next_message(bot)
        while "Stream: " not in reply.text:  # a status message first, if storing took a while
            reply = await person.next_edit(bot)
        assert links_in(reply) is None and reply.buttons == []
        written = dict(line.split(": ", 1) for line in reply.text.splitlines() if URL.search(line))
        assert written["Stream"].startswith(f"http://localhost:{service.web_port}/")
        async with http_client() as http:
            async with http.get(written["Download"]) as response:
                assert response.status == 200 and await response.read() == b"plain text links"

        # The file's card in /files: its links in words, its buttons only Delete and Back.
        await person.send_command(bot, "files")
        page = await person.next_message(bot)
        await person.press_button(bot, page.message_id, page.flat_buttons[0].callback_data)
        card = await person.next_edit(bot)
        assert [b.text for b in card.flat_buttons] == ["Delete", "« Back to my files"]
        assert written["Download"] in card.text

    refused = [c for c in telegram.rpc_log(bot) if c.error == "BUTTON_URL_INVALID"]
    assert refused == [], "no button Telegram would refuse was even tried"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("FileStream")]
    assert len(warnings) == 1 and "refuses buttons that link to PUBLIC_URL" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
