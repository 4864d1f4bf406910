"""compilers/webtask.py: the plain model's invocation and its answers (pure)."""

from __future__ import annotations

import json

import pytest

from compilers import HookRequest, Invocation, Outcome, RuleError, webtask as plain

COMPILER = plain.PlainWebtask()


def body_of(outcome: Outcome) -> tuple[int, str]:
    reply = COMPILER.respond(outcome)
    return reply.status, reply.encode().decode()


def test_three_models_by_arity_with_storage_and_a_streamed_raw_form() -> None:
    request = HookRequest(
        method="POST",
        headers={},
        body=b"x",
        ctx={"data": {}, "query": {}, "params": {}, "secrets": {}, "body_raw": "x"},
        req={"method": "POST", "url": "/api/run/c/n"},
        parse_body=2,
    )
    prepared = COMPILER.prepare(request)
    assert isinstance(prepared, Invocation)
    assert prepared.args_for(1) == []
    assert prepared.args_for(2) == [dict(request.ctx)]
    raw = prepared.args_for(3)
    assert isinstance(raw, list)
    assert "body_raw" not in raw[0]
    assert raw[1] == {"method": "POST", "url": "/api/run/c/n", "raw_body": "x"}
    assert prepared.raw_arities == frozenset({3})
    assert prepared.storage
    assert prepared.args_for(4) == RuleError(message=plain.ARITY)


@pytest.mark.parametrize("falsy", [None, False, 0, 0.0, ""])
def test_falsy_results_answer_an_empty_object(falsy: object) -> None:
    assert body_of(Outcome(result=falsy)) == (200, "{}")


@pytest.mark.parametrize(
    ("result", "text"), [([], "[]"), ({}, "{}"), ("x", '"x"'), (True, "true"), (5, "5")]
)
def test_truthy_results_answer_their_json(result: object, text: str) -> None:
    assert body_of(Outcome(result=result)) == (200, text)


def test_callback_errors_answer_400_indented() -> None:
    error = RuleError(message="boom", kind="Error", text="Error: boom")
    status, text = body_of(Outcome(error=error))
    assert status == 400
    assert text == (
        '{\n  "code": 400,\n  "error": "Script returned an error.",\n'
        '  "details": "Error: boom",\n  "name": "Error",\n  "message": "boom"\n}'
    )


def test_plain_values_are_the_details() -> None:
    value = {"name": "N", "message": "M", "x": [1]}
    error = RuleError(message="M", kind="Error", plain=True, value=value)
    assert json.loads(body_of(Outcome(error=error))[1]) == {
        "code": 400,
        "error": "Script returned an error.",
        "details": value,
        "name": "N",
        "message": "M",
    }
    text = RuleError(message="boom", kind="Error", text="boom", plain=True, value="boom")
    assert json.loads(body_of(Outcome(error=text))[1])["details"] == "boom"


def test_python_exceptions_read_like_string_of_an_error() -> None:
    error = RuleError(message="", kind="KeyError")
    assert json.loads(body_of(Outcome(error=error))[1])["details"] == "KeyError"


def test_thrown_and_engine_failures_answer_500() -> None:
    thrown = RuleError(message="bad", kind="TypeError", text="TypeError: bad", thrown=True)
    status, text = body_of(Outcome(error=thrown))
    assert status == 500
    assert json.loads(text)["error"] == plain.UNHANDLED
    memory = RuleError(message="The rule ran out of memory.", kind="MemoryError")
    assert body_of(Outcome(error=memory))[0] == 500


def test_unserializable_results_name_the_language() -> None:
    js = RuleError(message="x", kind="ResultError", text="TypeError: circular reference")
    assert json.loads(body_of(Outcome(error=js, language="javascript"))[1]) == {
        "code": 400,
        "error": "Error when JSON serializing the result of the JavaScript code.",
        "details": "TypeError: circular reference",
        "name": "TypeError",
        "message": "circular reference",
    }
    py = RuleError(message="Result holds a set.", kind="ResultError")
    body = json.loads(body_of(Outcome(error=py, language="python"))[1])
    assert body["error"] == "Error when JSON serializing the result of the Python code."
    assert body["details"] == "TypeError: Result holds a set."


def test_arity_errors_have_no_error_field() -> None:
    reply = COMPILER.respond(Outcome(error=RuleError(message=plain.ARITY), language="python"))
    assert reply.status == 400
    assert reply.body == {
        "code": 400,
        "details": "Unable to compile submitted Python. Error: The Python function must have "
        "one of the following signatures: ([ctx], callback) or (ctx, req, res).",
    }


def test_compile_failures_by_kind() -> None:
    syntax = plain.compile_failure(
        "javascript", [{"line": 2, "column": 5, "message": "SyntaxError: unexpected token"}]
    )
    assert syntax.status == 400
    assert syntax.body == {
        "code": 400,
        "error": "Unable to compile submitted JavaScript: SyntaxError: unexpected token "
        "(line 2, column 5)",
        "details": "SyntaxError: unexpected token (line 2, column 5)",
        "name": "SyntaxError",
        "message": "unexpected token (line 2, column 5)",
    }
    threw = plain.compile_failure(
        "javascript",
        [{"line": 0, "column": 0, "message": "Loading the rule threw Error: Cannot find x"}],
    )
    assert threw.body["error"] == "Unable to compile submitted JavaScript: Error: Cannot find x"
    assert threw.body["message"] == "Cannot find x"
    junk = plain.compile_failure(
        "javascript",
        [{"line": 0, "column": 0, "message": "Supplied code must return or export a function."}],
    )
    assert junk.body == {
        "code": 400,
        "details": "Unable to compile submitted JavaScript. Error: Supplied code must return "
        "or export a function.",
    }


def test_too_large_is_rts_size_limit_error() -> None:
    reply = plain.too_large(100)
    assert reply.status == 400
    assert reply.body == {
        "code": 400,
        "error": "Script exceeds the size limit.",
        "details": "Error: Script exceeds the size limit of 100.",
        "name": "Error",
        "message": "Script exceeds the size limit of 100.",
    }
