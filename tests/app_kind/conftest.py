"""The apps the tests of the app kind and of harness init measure (tests.app_kind.relay_chat and auth_chat), each
served by uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import serve_asgi


@pytest.fixture(scope="module")
def relay_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_asgi("tests.app_kind.relay_chat:application", tmp_path_factory.mktemp("relay")) as url:
        yield url


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_asgi("tests.app_kind.auth_chat:application", tmp_path_factory.mktemp("auth")) as url:
        yield url
