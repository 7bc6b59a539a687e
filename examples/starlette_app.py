"""`/my_courses` served by an ASGI app (Starlette) from the same models, on async units.

Starlette: the ASGI toolkit under FastAPI, so its users (the largest crowd on asyncio web
frameworks) expect exactly this shape: an `async def` endpoint, an AsyncSession per
request, a lifespan that closes the pool. Quart would mirror the Flask app instead.

Run: `pip install 'studyhall[async]' starlette uvicorn`, `studyhall-db setup`, then
`uvicorn examples.starlette_app:app`, and open /my_courses?student_id=1. No login here:
the Flask app (`studyhall.app`) has the real one; this shows the data layer under asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from studyhall.database import DatabaseManager, get_current_async_session, with_db_session
from studyhall.models import Student
from studyhall.queries.course_cards import course_cards


@with_db_session(read_only=True)
async def my_courses(request: Request) -> JSONResponse:
    """The student's active courses, read in one async unit of work."""
    try:
        student_id = int(request.query_params["student_id"])
    except (KeyError, ValueError):
        return JSONResponse({"error": "pass ?student_id=<number>"}, status_code=400)
    if not await Student.aexists(id=student_id):
        return JSONResponse({"error": "no such student"}, status_code=404)
    # A sync query function of the service layer, run in the unit's AsyncSession.
    cards = await get_current_async_session().run_sync(lambda _: course_cards(student_id))
    return JSONResponse({"student_id": student_id, "courses": [c._asdict() for c in cards]})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    DatabaseManager.initialize()
    yield
    await DatabaseManager.dispose_async()  # the loop's connections, before it ends


app = Starlette(routes=[Route("/my_courses", my_courses)], lifespan=lifespan)
