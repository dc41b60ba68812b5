"""The bot in the person's language: people whose Telegram speaks Spanish, Russian, Hindi or
Indonesian get the welcome, /help, their links, the request-timeout notice and the expiry
warning in it; /language switches; the command menu exists per language; the watch page
follows the browser's Accept-Language."""

from __future__ import annotations

from service_harness import Clock, http_client, make_world, running_service

READ_BACK = "channels.GetMessages"

# What each person reads, in the words of their language.
EXPECTED = {
    "es": {
        "start": "¡Hola! Envíame un archivo",
        "help": "/language - elige el idioma en que te hablo",
        "links": ["Tamaño: 11 B", "Ver en línea: http", "Estos enlaces caducan en 1 h"],
        "buttons": ["Ver en línea", "Descargar"],
        "storing": "Guardando tu archivo…",
        "timed_out": "superó el tiempo límite de 1 min",
        "warning": "caducan en 9 min",
    },
    "ru": {
        "start": "Привет! Пришлите мне файл",
        "help": "/language - выбрать язык, на котором я с вами говорю",
        "links": ["Размер: 11 Б", "Смотреть: http", "Ссылки перестанут работать через 1 ч"],
        "buttons": ["Смотреть", "Скачать"],
        "storing": "Сохраняю ваш файл…",
        "timed_out": "не уложился в 1 мин",
        "warning": "перестанут работать через 9 мин",
    },
    "hi": {
        "start": "नमस्ते! मुझे कोई फ़ाइल भेजिए",
        "help": "/language - वह भाषा चुनें जिसमें मैं आपसे बात करूँ",
        "links": ["साइज़: 11 बाइट", "स्ट्रीम: http", "ये लिंक 1 घंटे में बंद हो जाएँगे"],
        "buttons": ["स्ट्रीम", "डाउनलोड"],
        "storing": "आपकी फ़ाइल सेव हो रही है…",
        "timed_out": "1 मिनट से ज़्यादा लग गए",
        "warning": "9 मिनट में बंद हो जाएँगे",
    },
    "id": {
        "start": "Halo! Kirim file ke aku",
        "help": "/language - pilih bahasa yang aku pakai",
        "links": ["Ukuran: 11 B", "Putar: http", "Link ini kedaluwarsa dalam 1 jam"],
        "buttons": ["Putar", "Unduh"],
        "storing": "Sedang menyimpan file-mu…",
        "timed_out": "melewati batas waktu 1 menit",
        "warning": "kedaluwarsa dalam 9 menit",
    },
}


def button_texts(message) -> list[str]:
    return [button.text for row in (message.buttons or []) for button in row]


async def run_job(service, name):
    the_job = next(j for j in service.jobs if j.name == name)
    the_job.wake()
    return await the_job.next_pass()


async def ask(person, bot, command: str):
    await person.send_command(bot, command)
    return await person.next_message(bot)


async def test_people_get_every_message_in_their_telegram_language(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    people = {code: telegram.person(telegram.world.add_user(first_name=f"P{code}", lang_code=code))
              for code in EXPECTED}
    clock = Clock()
    settings = stack_settings(world, FILE_TTL=3600, EXPIRY_WARNING=600, REQUEST_TIMEOUT=60)
    async with running_service(settings, clock) as service:
        for code, person in people.items():
            words = EXPECTED[code]
            assert words["start"] in (await ask(person, bot, "start")).text, code
            assert words["help"] in (await ask(person, bot, "help")).text, code

            await person.send_file(bot, b"hello world", file_name=f"{code}.txt")
            links = await person.next_message(bot)
            assert all(part in links.text for part in words["links"]), (code, links.text)
            assert button_texts(links) == words["buttons"], code

        # A request that cannot finish: the read-back of each slow file meets a FLOOD_WAIT.
        for code, person in people.items():
            flood = telegram.faults.flood_wait(bot, READ_BACK, seconds=25, times=1)
            await person.send_file(bot, b"slow", file_name=f"slow-{code}.bin")
            status = await person.next_message(bot)
            assert EXPECTED[code]["storing"] in status.text, code
            await telegram.wait_until(lambda: flood.hits)
        clock.advance(seconds=61)
        await run_job(service, "stale requests")
        for code, person in people.items():
            told = await person.next_message(bot)
            assert f"slow-{code}.bin" in told.text and EXPECTED[code]["timed_out"] in told.text, (code, told.text)

        clock.advance(minutes=49)   # 50 min 1 s after the files: 9 min 59 s left
        await run_job(service, "expiry notices")
        for code, person in people.items():
            warning = await person.next_message(bot)
            assert f"{code}.txt" in warning.text and EXPECTED[code]["warning"] in warning.text, (code, warning.text)


async def test_language_switches_the_bot_for_that_person_and_keeps_it(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    ana = telegram.person(telegram.world.add_user(first_name="Ana", lang_code="es-419"))
    async with running_service(stack_settings(world)):
        assert "¡Hola!" in (await ask(ana, bot, "start")).text

        menu = await ask(ana, bot, "language")
        assert "¿En qué idioma te hablo?" in menu.text
        assert button_texts(menu) == ["English", "Español", "Русский", "हिन्दी", "Bahasa Indonesia"]
        russian = next(b for row in menu.buttons for b in row if b.text == "Русский")
        await ana.press_button(bot, menu.message_id, russian.callback_data)
        assert "теперь я буду говорить с вами по-русски" in (await ana.next_edit(bot)).text
        assert "Привет!" in (await ask(ana, bot, "start")).text

        menu = await ask(ana, bot, "language")
        assert "На каком языке мне говорить?" in menu.text
        english = next(b for row in menu.buttons for b in row if b.text == "English")
        await ana.press_button(bot, menu.message_id, english.callback_data)
        assert "I will speak English with you" in (await ana.next_edit(bot)).text
    async with running_service(stack_settings(world)):
        assert "Hi! Send me a file" in (await ask(ana, bot, "start")).text, "the choice is kept"


async def test_the_command_menu_is_published_in_every_language(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    async with running_service(stack_settings(world)):
        menus = {code: await telegram.world.wait_until(
            lambda code=code: bot.commands_for("BotCommandScopeDefault", "" if code == "en" else code))
            for code in ("en", "es", "ru", "hi", "id")}
    described = {code: dict(menu) for code, menu in menus.items()}
    assert described["en"]["files"] == "your files that still have working links"
    assert described["es"]["files"] == "tus archivos que todavía tienen enlaces activos"
    assert described["ru"]["files"] == "ваши файлы с рабочими ссылками"
    assert described["hi"]["files"] == "आपकी फ़ाइलें जिनके लिंक अभी चालू हैं"
    assert described["id"]["bundle"] == "mulai paket; file yang kamu kirim berikutnya memakai satu link yang sama"
    assert all(list(menu) == list(described["en"]) for menu in described.values())


async def test_the_watch_page_follows_the_browsers_accept_language(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    async with running_service(stack_settings(world)), http_client() as http:
        await world.person.send_file(bot, b"a page", file_name="page.txt")
        reply = await world.person.next_message(bot)
        watch = next(b.url for row in reply.buttons for b in row if b.text == "Stream")
        pages = {}
        for header in ("ru-RU,ru;q=0.9,en;q=0.8", "fr-FR, id;q=0.7", "de", None):
            async with http.get(watch, headers={"Accept-Language": header} if header else {}) as response:
                assert response.status == 200
                pages[header] = await response.text()
        assert '<html lang="ru">' in pages["ru-RU,ru;q=0.9,en;q=0.8"] and ">Скачать<" in pages["ru-RU,ru;q=0.9,en;q=0.8"]
        assert "ссылка истечёт через" in pages["ru-RU,ru;q=0.9,en;q=0.8"]
        assert '<html lang="id">' in pages["fr-FR, id;q=0.7"] and ">Unduh<" in pages["fr-FR, id;q=0.7"]
        for english in (pages["de"], pages[None]):
            assert '<html lang="en">' in english and ">Download<" in english

        async with http.get(watch + "x", headers={"Accept-Language": "es"}) as response:
            assert response.status == 404 and "Enlace no encontrado" in await response.text()
