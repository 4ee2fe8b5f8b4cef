"""A request's database connection is back in the pool before its response is sent.

Held while the body drains (FastAPI's default for dependencies with yield), a keep-alive
client's next request needs a second connection, the pool overflows and SQLAlchemy opens and
closes a PostgreSQL connection per request: the p99 of OGC items and tiles under load.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message, Receive, Scope, Send


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections/communities/items?limit=5",
        "/tiles/risk/10/824/520.pbf",
        "/api/v1/communities",
    ],
)
def test_connection_is_returned_before_the_response_starts(
    app: FastAPI, clean_db: Engine, path: str
) -> None:
    checked_out_at_start: list[int] = []

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                checked_out_at_start.append(clean_db.pool.checkedout())
            await send(message)

        await app(scope, receive, watch)

    with TestClient(probe) as client:
        before = clean_db.pool.checkedout()
        response = client.get(path)
    assert response.status_code == 200, response.text
    assert checked_out_at_start == [before]
