from __future__ import annotations

import pytest

from runtime.oauth.errors import AccessDenied, ServerError
from runtime.oauth.hooks import choose, read_envelope

ON = {"auth0-extension": "runtime", "auth0-extension-name": "password-exchange"}


def test_choose_skips_disabled_other_points_and_non_hooks() -> None:
    candidates = [
        ("a-disabled", {**ON, "auth0-extension-disabled": "true"}),
        ("b-other", {**ON, "auth0-extension-name": "pre-user-registration"}),
        ("c-plain", {}),
        ("d-on", ON),
    ]
    assert choose(candidates, "password") == "d-on"
    assert choose(candidates[:3], "password") is None
    # As wt-cli's ``auth0 ls`` decides: an empty value does not disable.
    assert choose([("e", {**ON, "auth0-extension-disabled": ""})], "password") == "e"


def test_choose_prefers_lowest_order_then_name() -> None:
    candidates = [("z", ON), ("y", {**ON, "auth0-extension-order": "-1"}), ("x", ON)]
    assert choose(candidates, "password") == "y"
    assert choose(candidates[::2], "password") == "x"


def test_client_credentials_accepts_both_extension_names() -> None:
    cc = {"auth0-extension": "runtime", "auth0-extension-name": "credentials-exchange"}
    assert choose([("h", cc)], "client_credentials") == "h"
    assert choose([("h", cc)], "password") is None


def test_success_envelope_gives_its_data() -> None:
    body = {"statusCode": 200, "headers": {}, "status": "success", "data": {"scope": []}}
    assert read_envelope(200, body, "t/h") == {"scope": []}


def test_rule_error_is_access_denied_with_its_message() -> None:
    with pytest.raises(AccessDenied, match=r"^no way$"):
        read_envelope(200, {"status": "error", "data": {"message": "no way"}}, "t/h")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            200,
            {
                "status": "error",
                "data": {"message": "Unauthorized extensibility point", "statusCode": 500},
            },
        ),
        (500, {"code": 500, "message": "timeout"}),
        (404, {"code": 404}),
        (200, "nonsense"),
        (200, {"status": "weird"}),
    ],
)
def test_everything_else_fails_closed(status: int, body: object) -> None:
    with pytest.raises(ServerError):
        read_envelope(status, body, "t/h")
