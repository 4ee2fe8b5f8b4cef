"""Reads beyond the in-flight limit wait their turn in arrival order; the slot is freed when
the response starts; writes are not held back."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service.ops.inflight import InFlightLimitMiddleware


def build(limit: int) -> tuple[Starlette, list[str], dict[str, asyncio.Event]]:
    started: list[str] = []
    gates: dict[str, asyncio.Event] = {}

    async def handler(request: Request) -> PlainTextResponse:
        name = request.path_params["name"]
        started.append(f"{request.method} {name}")
        gate = gates.setdefault(name, asyncio.Event())
        await gate.wait()
        return PlainTextResponse(name)

    app = Starlette(routes=[Route("/{name}", handler, methods=["GET", "POST"])])
    app.add_middleware(InFlightLimitMiddleware, limit=limit)
    return app, started, gates


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_reads_wait_in_arrival_order_and_writes_do_not_wait() -> None:
    app, started, gates = build(limit=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = asyncio.create_task(client.get("/a"))
        await settle()
        second = asyncio.create_task(client.get("/b"))
        await settle()
        third = asyncio.create_task(client.get("/c"))
        await settle()
        write = asyncio.create_task(client.post("/w"))
        await settle()
        assert started == ["GET a", "POST w"]  # b and c wait; the write does not
        for name in ("b", "c", "w"):
            gates.setdefault(name, asyncio.Event())
        gates["c"].set()  # c may go, but b arrived first and still waits for the slot
        gates["w"].set()
        await settle()
        assert started == ["GET a", "POST w"]
        gates["a"].set()
        assert (await first).text == "a"
        await settle()
        assert started[2] == "GET b"
        gates["b"].set()
        assert [(await t).text for t in (second, third, write)] == ["b", "c", "w"]
        assert started == ["GET a", "POST w", "GET b", "GET c"]


@pytest.mark.anyio
async def test_no_limit_lets_every_read_run() -> None:
    app, started, gates = build(limit=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        tasks = [asyncio.create_task(client.get(f"/{n}")) for n in "xyz"]
        await settle()
        assert sorted(started) == ["GET x", "GET y", "GET z"]
        for gate in gates.values():
            gate.set()
        assert [(await t).status_code for t in tasks] == [200, 200, 200]
