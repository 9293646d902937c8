"""The reference app's log lines are written once, under a server that gives the root logger a handler of its own
(Daphne does): the harness counts channels-redis' "over capacity" lines, and counted each one twice under Daphne."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest
from django.conf import settings


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("channels_redis", "reference_app")
    kept = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate) for name in names}
    stream = io.StringIO()
    try:
        logging.config.dictConfig(settings.LOGGING)
        for name in names:
            # The app's own handler writes to the same stream the server's root handler does (the process's stderr).
            for handler in logging.getLogger(name).handlers:
                handler.setStream(stream)  # type: ignore[attr-defined]
        server_handler = logging.StreamHandler(stream)
        server_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(message)s"))
        root.addHandler(server_handler)
        root.setLevel(logging.INFO)
        yield stream
    finally:
        root.handlers[:], root.level = saved
        for name, (handlers, propagate) in kept.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


@pytest.mark.parametrize("logger", ["channels_redis.core", "reference_app.gateway"])
def test_a_record_of_the_app_s_loggers_is_written_once(configured: io.StringIO, logger: str) -> None:
    logging.getLogger(logger).info("1 of 10 channels over capacity in group chat.room.r")
    lines = [line for line in configured.getvalue().splitlines() if "over capacity" in line]
    assert len(lines) == 1, lines
