"""``GET /api/logs/tenant/{container}?key=T``: the container's log stream as Server-Sent Events.

Framing follows what webtask-log-stream 3.0.0 parses: LF-only lines, one ``data:<json>`` line
per record (no space after the colon, never ``event: data``), each event written as one chunk
ending in a blank line. ``event:ping`` keep-alives go out well inside the browser client's 20 s
silence limit; node clients skip them. The stream never ends on its own: wt reports a closed
stream as "Connection to streaming log endpoint lost".
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from runtime.auth import authenticate, require_container
from runtime.bus import Bus, Subscription
from runtime.names import check_name
from runtime.services import services

PING_INTERVAL_S = 10.0
PING = b"event:ping\ndata:{}\n\n"


def event(record: dict[str, Any]) -> bytes:
    """One SSE event carrying ``record``; ``ensure_ascii`` keeps U+2028 and friends escaped."""
    return b"data:" + json.dumps(record, separators=(",", ":")).encode() + b"\n\n"


async def events(subscription: Subscription, ping_interval_s: float) -> AsyncGenerator[bytes, None]:
    """A ping at once (so clients see the stream open), then records and pings; closes the
    subscription when the client goes away."""
    try:
        yield PING
        while True:
            record = await subscription.get(ping_interval_s)
            yield PING if record is None else event(record)
    finally:
        subscription.close()


def log_stream(bus: Bus, container: str, ping_interval_s: float) -> AsyncGenerator[bytes, None]:
    """Subscribe now and return the event stream. A client gone before the first chunk never
    starts the generator, so its ``finally`` never runs: the subscription is also dropped when
    the generator is collected."""
    subscription = bus.subscribe(container)
    body = events(subscription, ping_interval_s)
    weakref.finalize(body, subscription.close)
    return body


async def stream_logs(request: Request) -> Response:
    svc = services(request)
    container = check_name("container", request.path_params["container"])
    claims = await authenticate(request, svc.keys, svc.store)
    require_container(claims, container)
    # Subscribe before answering: a record published right after wt sees the stream open
    # must not be lost.
    body = log_stream(svc.bus, container, PING_INTERVAL_S)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
