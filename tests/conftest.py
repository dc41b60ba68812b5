"""Shared fixtures: the local Telegram server and the MongoDB-wire test database; Hypothesis profiles."""

import os

from hypothesis import settings as hypothesis_settings

import faketime_mode

from tgserver.fixtures import *  # noqa: F401,F403  (telegram_server, patched client library)
from database_fixture import *  # noqa: F401,F403  (database_url, mongo_db)
from service_harness import stack_settings  # noqa: F401,E402  (settings for an end-to-end world)
from database_process import database_process  # noqa: F401,E402  (a database a test can freeze and stop)
from hang_report import _remember_the_loop, pytest_runtest_protocol  # noqa: F401,E402  (a stuck test says where)
import browser as browser_paths  # noqa: E402  (the Chromium the page tests use)
import pytest_asyncio  # noqa: E402

# Generated-input tests run the same examples every time ("ci", the default), so a run
# that passed passes again; HYPOTHESIS_PROFILE=explore draws new ones on each run.
# Neither keeps a database of examples (.hypothesis/ is for local runs and is not committed).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    faketime_mode.adapt()   # only under FAKETIME_DONT_FAKE_MONOTONIC=1 faketime ...; see faketime_mode.py


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser():
    """One headless Chromium for the page tests of a module (tests/browser.py says where it is)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_paths.CHROMIUM, args=browser_paths.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
