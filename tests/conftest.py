"""Shared fixtures: the local Telegram server and the MongoDB-wire test database."""

from tgserver.fixtures import *  # noqa: F401,F403  (telegram_server, patched client library)
from database_fixture import *  # noqa: F401,F403  (database_url, mongo_db)
from service_harness import stack_settings  # noqa: F401,E402  (settings for an end-to-end world)
from database_process import database_process  # noqa: F401,E402  (a database a test can freeze and stop)
