from __future__ import annotations

import asyncio
import gc
import json
import re

from runtime.api_logs import PING, event, events, log_stream
from runtime.bus import InProcessBus, log_record


def test_event_is_one_lf_framed_data_line() -> None:
    record = log_record("acme", "line\nwith\r\nbreaks \u2028 and ü", sandbox=True, req_id="r1")
    frame = event(record)
    assert frame.startswith(b"data:{")
    assert frame.endswith(b"}\n\n")
    assert frame.count(b"\n") == 2
    assert b"\r" not in frame
    assert json.loads(frame[len(b"data:") : -2]) == record


def test_log_record_is_bunyan_shaped() -> None:
    record = log_record("acme", "hi", sandbox=True, req_id="r1")
    assert set(record) == {
        "v",
        "level",
        "name",
        "hostname",
        "pid",
        "time",
        "msg",
        "container",
        "req_id",
        "sandbox",
    }
    assert (record["v"], record["level"], record["name"]) == (0, 30, "sandbox-logs")
    assert record["time"].endswith("Z")
    infra = log_record("acme", "start")
    assert infra["name"] == "webtask-runtime"
    assert "sandbox" not in infra


def test_stream_pings_first_then_relays_records_and_pings_in_silence() -> None:
    async def scenario() -> list[bytes]:
        bus = InProcessBus()
        subscription = bus.subscribe("acme")
        assert bus.subscribers("acme") == 1
        stream = events(subscription, 0.05)
        frames = [await anext(stream)]
        bus.publish("acme", {"msg": "one"})
        bus.publish("other", {"msg": "not mine"})
        frames.append(await anext(stream))
        frames.append(await anext(stream))  # nothing published: a ping after 50 ms
        bus.publish("acme", {"msg": "two"})
        frames.append(await anext(stream))
        await stream.aclose()
        assert bus.subscribers("acme") == 0
        return frames

    assert asyncio.run(scenario()) == [
        PING,
        b'data:{"msg":"one"}\n\n',
        PING,
        b'data:{"msg":"two"}\n\n',
    ]


def _node_client_records(stream: bytes) -> list[object]:
    """What webtask-log-stream 3.0.0 emits for ``stream``: lines split on LF, each matched by
    ^([^:]*):(.*)$, a blank line ends the event, only events named "data" are JSON-parsed."""
    emitted: list[object] = []
    current: dict[str, str] | None = None
    for line in stream.decode().split("\n")[:-1]:
        if line == "":
            if current is not None and current.get("event") == "data":
                emitted.append(json.loads(current["data"]))
            current = None
            continue
        match = re.match(r"^([^:]*):(.*)$", line)
        assert match is not None, line
        current = current or {"event": "data"}
        if match.group(1):
            current[match.group(1)] = match.group(2)
    return emitted


def test_node_client_sees_records_and_skips_pings() -> None:
    records = [log_record("acme", "hello: world", sandbox=True), {"msg": "x"}]
    stream = PING + event(records[0]) + PING + event(records[1])
    assert _node_client_records(stream) == records


def test_cancelled_reader_unsubscribes() -> None:
    async def scenario() -> int:
        bus = InProcessBus()
        stream = events(bus.subscribe("acme"), 10)
        await anext(stream)
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return bus.subscribers("acme")

    assert asyncio.run(scenario()) == 0


def test_slow_reader_loses_lines_instead_of_blocking() -> None:
    async def scenario() -> int:
        bus = InProcessBus(queue_size=2)
        subscription = bus.subscribe("acme")
        for n in range(5):
            bus.publish("acme", {"n": n})
        got = 0
        while await subscription.get(0.01) is not None:
            got += 1
        subscription.close()
        return got

    assert asyncio.run(scenario()) == 2


def test_a_stream_never_started_still_unsubscribes_when_collected() -> None:
    bus = InProcessBus()
    stream = log_stream(bus, "acme", 10)
    assert bus.subscribers("acme") == 1
    del stream
    gc.collect()
    assert bus.subscribers("acme") == 0
