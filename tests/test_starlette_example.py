"""The ASGI example (examples/starlette_app.py) serves /my_courses from the same models."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("starlette")

from examples.starlette_app import app  # noqa: E402

from studyhall.database import DatabaseManager  # noqa: E402
from tests.models.factories import make_world  # noqa: E402


async def get(query: str) -> tuple[int, Any]:
    """One GET /my_courses through the ASGI interface (no HTTP client needed)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/my_courses",
        "raw_path": b"/my_courses",
        "root_path": "",
        "query_string": query.encode(),
        "headers": [],
        "server": ("test", 80),
        "client": ("test", 1234),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_my_courses_is_served_from_async_units(tables):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        student_id = world.students[0].id

    async def serve() -> list[tuple[int, Any]]:
        async with app.router.lifespan_context(app):
            return [
                await get(f"student_id={student_id}"),
                await get("student_id=999999"),
                await get(""),
            ]

    (status, page), (missing, _), (bad, _) = asyncio.run(serve())
    assert status == 200
    assert [c["name"] for c in page["courses"]] == ["Algebra 1"]
    assert missing == 404
    assert bad == 400
