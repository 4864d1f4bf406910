"""compilers/context.py: ``ctx`` and ``req`` as webtask-runtime 2.0.0 builds them (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from compilers import context as wt


def build(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "secrets": {},
        "params": {},
        "meta": {},
        "query": {},
        "headers": {},
        "req_id": "r1",
        "token": None,
        "body_raw": None,
        "body": wt.ABSENT,
        "merge": False,
    }
    args.update(kw)
    return wt.context(**args)


def test_query_strings_parse_like_node_querystring() -> None:
    assert wt.parse_query("a=1&a=2&a=3&b=&c&d=x+y%21&=e") == {
        "a": ["1", "2", "3"],
        "b": "",
        "c": "",
        "d": "x y!",
        "": "e",
    }
    assert wt.parse_query("&&") == {}
    assert len(wt.parse_query("&".join(f"k{i}=v" for i in range(1500)))) == wt.MAX_KEYS


def test_webtask_flags_leave_ctx_query() -> None:
    assert wt.without_flags({"a": "1", "webtask_pb": "1", "webtask_no_cache": "1"}) == {"a": "1"}


def test_headers_are_lower_cased_and_repeats_joined_like_node() -> None:
    raw = [
        (b"X-Thing", b"a"),
        (b"x-thing", b"b"),
        (b"Cookie", b"c=1"),
        (b"cookie", b"d=2"),
        (b"Content-Type", b"application/json"),
        (b"content-type", b"text/plain"),
    ]
    assert wt.request_headers(raw) == {
        "x-thing": "a, b",
        "cookie": "c=1; d=2",
        "content-type": "application/json",
    }


@pytest.mark.parametrize(
    ("content_type", "text", "parsed"),
    [
        ("application/json", '{"a":1}', {"a": 1}),
        ("application/json; charset=utf-8", "[1,2]", [1, 2]),
        (None, '{"a":1}', {"a": 1}),  # no Content-Type: read as JSON, as RT defaults it
        ("application/x-www-form-urlencoded", "a=1&a=2", {"a": ["1", "2"]}),
        ("text/plain", '{"a":1}', wt.ABSENT),
        ("application/json", "{bad", wt.ABSENT),
        ("application/json", "NaN", wt.ABSENT),
        (
            "application/json",
            '{"big": 123456789012345678901234567890}',
            {"big": 1.2345678901234568e29},
        ),
        ("application/json", "[" * 100000 + "]" * 100000, wt.ABSENT),
    ],
)
def test_bodies_parse_by_content_type(content_type: str | None, text: str, parsed: Any) -> None:
    assert wt.parse_body(content_type, text) == parsed


def test_data_is_query_then_params_then_secrets() -> None:
    ctx = build(query={"k": "q", "q": "1"}, params={"k": "p", "p": "2"}, secrets={"k": "s"})
    assert ctx["data"] == {"k": "s", "q": "1", "p": "2"}
    assert list(ctx) == ["data", "headers", "id", "params", "query", "secrets", "meta"]


def test_merged_body_fills_only_falsy_keys() -> None:
    body = {"q": "body", "b": "bb", "z": 0, "s": "x"}
    ctx = build(
        query={"q": "1", "b": ""}, secrets={"s": ""}, body_raw="{...}", body=body, merge=True
    )
    assert ctx["data"] == {"q": "1", "b": "bb", "s": "x", "z": 0}
    assert list(ctx["data"]) == ["q", "b", "s", "z"]  # JS property order
    unmerged = build(query={"q": "1"}, body_raw="{...}", body=body)
    assert unmerged["data"] == {"q": "1"}
    assert unmerged["body"] == body


def test_arrays_merge_by_index_and_scalars_not_at_all() -> None:
    assert build(body_raw="[1,2]", body=[1, 2], merge=True)["data"] == {"0": 1, "1": 2}
    assert build(body_raw='"s"', body="s", merge=True)["data"] == {}


def test_body_fields_appear_only_when_parsed() -> None:
    assert "body_raw" not in build(body_raw=None, body=wt.ABSENT)
    text_only = build(body_raw="hello", body=wt.ABSENT)
    assert text_only["body_raw"] == "hello"
    assert "body" not in text_only
    assert build(body_raw="null", body=None)["body"] is None


def test_token_is_shown_only_when_given() -> None:
    assert "token" not in build()
    assert build(token="tok")["token"] == "tok"


def test_raw_model_under_pb_2_gets_no_parsed_body() -> None:
    ctx = build(query={"a": "1"}, body_raw='{"b":2}', body={"b": 2}, merge=True)
    req = {"method": "POST", "url": "/api/run/c/n", "headers": {}, "query": {"a": "1"}}
    raw_ctx, raw_req = wt.raw_args(ctx, req, b'{"b":2}', 2)
    assert "body" not in raw_ctx
    assert "body_raw" not in raw_ctx
    assert raw_ctx["data"] == {"a": "1"}
    assert "body" not in raw_req
    assert raw_req["raw_body"] == '{"b":2}'
    assert ctx["data"] == {"a": "1", "b": 2}  # the (ctx, cb) form keeps its merge


def test_raw_model_under_pb_1_gets_the_body_on_req_too() -> None:
    ctx = build(body_raw='{"b":2}', body={"b": 2})
    raw_ctx, raw_req = wt.raw_args(ctx, {"method": "POST"}, b'{"b":2}', 1)
    assert raw_ctx["body"] == {"b": 2}
    assert raw_req["body"] == {"b": 2}
    assert raw_req["raw_body"] == '{"b":2}'


def test_raw_model_without_a_body_has_no_raw_body() -> None:
    _, raw_req = wt.raw_args(build(), {"method": "GET"}, b"", 0)
    assert "raw_body" not in raw_req
    _, bytes_only = wt.raw_args(build(), {"method": "POST"}, b"\xff", 0)
    assert bytes_only["raw_body"] == "\ufffd"
