from __future__ import annotations

from typing import Any

import pytest

from runtime import issuance, lineage
from runtime.errors import BadRequest, Forbidden

ADMIN: dict[str, Any] = {"jti": "root", "iat": 1, "ca": [], "dd": 3}
PROFILE: dict[str, Any] = {"jti": "prof", "iat": 1, "ca": ["root"], "ten": "acme", "dd": 1}
REGEX_PROFILE: dict[str, Any] = {"jti": "rx", "ca": [], "ten": "/^wt-[0-1]$/", "dd": 1}


def plan(issuer: dict[str, Any], body: dict[str, Any]) -> issuance.Plan:
    return issuance.plan(issuer, body, jti="child", now=1000, max_code_bytes=100)


def test_empty_body_gives_a_dd0_token_in_the_issuers_container() -> None:
    result = plan(PROFILE, {})
    assert result.claims == {
        "jti": "child",
        "iat": 1000,
        "ca": ["root", "prof"],
        "ten": "acme",
        "dd": 0,
        "pb": 2,
    }
    assert result.name is None
    assert result.ectx is None


def test_master_child_without_ten_stays_master() -> None:
    assert "ten" not in plan(ADMIN, {"dd": 2}).claims


def test_numeric_strings_and_booleans_are_coerced() -> None:
    claims = plan(
        ADMIN,
        {"exp": "2000000000", "nbf": " 5 ", "lm": "10", "lts": 3.0, "mb": True, "dr": "true"},
    ).claims
    assert claims["exp"] == 2000000000
    assert claims["nbf"] == 5
    assert claims["lm"] == 10
    assert claims["lts"] == 3
    assert claims["mb"] == 1
    assert claims["dr"] == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"exp": "soon"}, "Claim 'exp' must be an integer or a numeric string, not 'soon'"),
        ({"pb": 3}, "Claim 'pb' must be an integer from 0 to 2, not 3"),
        ({"mb": 2}, "Claim 'mb' must be an integer from 0 to 1, not 2"),
        ({"lm": 0}, "Claim 'lm' must be an integer of at least 1, not 0"),
        ({"dd": -1}, "Claim 'dd' must be an integer of at least 0, not -1"),
        ({"exp": 10, "nbf": 10}, "Claim 'exp' (10) must be later than 'nbf' (10)"),
        ({"host": "bad host"}, "Claim 'host' must be a DNS name"),
        ({"pctx": {"a": [1]}}, "'pctx.a' must be a string"),
        ({"meta": "x"}, "'meta' must be an object of strings"),
        ({"ectx": 5}, "'ectx' must be an object of strings"),
        ({"code": "x", "url": "https://e.com/x"}, "at most one of the claims 'code' and 'url'"),
        ({"code": "x" * 101}, "larger than the 100-byte limit"),
        ({"code": 5}, "Claim 'code' must be a string"),
        ({"ten": ""}, "Claim 'ten' must be a container name"),
        ({"ten": "a,,b"}, "invalid container ''"),
        ({"ten": "/[/"}, "does not compile"),
        ({"ten": "/(a+)+$/"}, "nests quantifiers"),
        ({"jtnm": "bad name"}, "invalid webtask name 'bad name'"),
    ],
)
def test_malformed_claims_are_bad_requests(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        plan(ADMIN, body)
    assert fragment in info.value.message


def test_unknown_keys_are_dropped() -> None:
    claims = plan(
        ADMIN,
        {"jti": "mine", "ca": ["x"], "iat": 1, "secrets": {"a": "b"}, "token": "t", "zz": 1},
    ).claims
    assert claims["jti"] == "child"
    assert claims["ca"] == ["root"]
    assert claims["iat"] == 1000
    assert not {"secrets", "token", "zz", "webtask_url"} & set(claims)


@pytest.mark.parametrize("dd", [1, 2])
def test_dd_must_stay_below_the_issuers(dd: int) -> None:
    with pytest.raises(Forbidden, match="dd below 1"):
        plan(PROFILE, {"dd": dd})


def test_admin_may_issue_a_profile_with_depth() -> None:
    assert plan(ADMIN, {"ten": "acme", "dd": "2"}).claims["dd"] == 2


@pytest.mark.parametrize("dd", [0, None, "3", True])
def test_tokens_without_depth_issue_nothing(dd: object) -> None:
    issuer = {"jti": "w", "ten": "acme", "dd": dd}
    with pytest.raises(Forbidden, match="may not issue tokens"):
        plan(issuer, {})


@pytest.mark.parametrize(
    ("issuer_ten", "requested", "expected"),
    [
        ("acme", "acme", "acme"),
        ("a,b", "b", "b"),
        ("a,b", " a , b ", "a,b"),
        ("a,b", ["a", "b"], "a,b"),
        ("/^wt-[0-1]$/", "wt-1", "wt-1"),
        ("/^wt-[0-1]$/", "/^wt-[0-1]$/", "/^wt-[0-1]$/"),
        (None, "/^x-/", "/^x-/"),
        (None, "anything", "anything"),
    ],
)
def test_ten_may_narrow(issuer_ten: str | None, requested: object, expected: str) -> None:
    issuer = {"jti": "p", "dd": 2, **({"ten": issuer_ten} if issuer_ten else {})}
    assert plan(issuer, {"ten": requested}).claims["ten"] == expected


@pytest.mark.parametrize(
    ("issuer_ten", "requested"),
    [
        ("acme", "other"),
        ("acme", "acme,other"),
        ("a,b", "c"),
        ("/^wt-[0-1]$/", "wt-2"),
        ("/^wt-[0-1]$/", "/^wt-.*$/"),
        ("acme", "/acme/"),
    ],
)
def test_ten_may_not_widen(issuer_ten: str, requested: str) -> None:
    with pytest.raises(Forbidden):
        plan({"jti": "p", "dd": 2, "ten": issuer_ten}, {"ten": requested})


def test_jtn_names_a_webtask_and_keeps_code_out_of_the_token() -> None:
    result = plan(
        PROFILE,
        {
            "ten": "acme",
            "jtn": "hello",
            "code": "def f(cb): cb(None, 1)",
            "meta": {"k": "v"},
            "ectx": {"s": "1"},
            "mb": 1,
            "dr": 1,
        },
    )
    assert (result.container, result.name) == ("acme", "hello")
    assert result.code == "def f(cb): cb(None, 1)"
    assert result.meta == {"k": "v"}
    assert result.ectx == {"s": "1"}
    assert result.claims["jtn"] == "hello"
    assert not {"code", "url", "meta", "ectx"} & set(result.claims)


def test_jtn_accepts_its_own_stored_code_url() -> None:
    url = "webtask://localhost/api/data/code/acme%2Fhello"
    result = plan(PROFILE, {"jtn": "hello", "url": url, "ectx": "v1.sealed"})
    assert result.code is None
    assert result.ectx == "v1.sealed"
    with_code = plan(PROFILE, {"jtn": "hello", "url": url, "code": "new"})
    assert with_code.code == "new"


@pytest.mark.parametrize(
    ("issuer", "body", "fragment"),
    [
        (PROFILE, {"jtn": "hello"}, "needs its code"),
        (PROFILE, {"jtn": "hello", "url": "https://e.com/x.js"}, "does not fetch code"),
        (
            PROFILE,
            {"jtn": "hello", "url": "webtask://localhost/api/data/code/other%2Fhello"},
            "Unsupported url",
        ),
        (PROFILE, {"jtn": "bad name", "code": "x"}, "Claim 'jtn' must be a webtask name"),
        (REGEX_PROFILE, {"jtn": "x", "code": "x"}, "one literal container"),
        (ADMIN, {"jtn": "x", "code": "x"}, "one literal container"),
        (ADMIN, {"ten": "a,b", "jtn": "x", "code": "x"}, "one literal container"),
    ],
)
def test_jtn_rules(issuer: dict[str, Any], body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        plan(issuer, body)
    assert fragment in info.value.message


def test_jtn_with_a_literal_inside_a_regex_profile() -> None:
    result = plan(REGEX_PROFILE, {"ten": "wt-0", "jtn": "x", "code": "c"})
    assert (result.container, result.name) == ("wt-0", "x")


def test_jtnm_limits_the_names_a_token_may_manage() -> None:
    issuer = {**PROFILE, "jtnm": ["a", "b"]}
    assert plan(issuer, {"jtn": "a", "code": "c"}).claims["jtnm"] == ["a", "b"]
    with pytest.raises(Forbidden, match="'c'"):
        plan(issuer, {"jtn": "c", "code": "c"})
    assert plan(ADMIN, {"jtnm": "x, y"}).claims["jtnm"] == ["x", "y"]


def test_unnamed_tokens_embed_code_url_and_meta() -> None:
    claims = plan(PROFILE, {"code": "c", "meta": {"a": 1}, "pctx": {"p": "q"}}).claims
    assert claims["code"] == "c"
    assert claims["meta"] == {"a": "1"}
    assert claims["pctx"] == {"p": "q"}
    assert plan(PROFILE, {"url": "https://e.com/x.js"}).claims["url"] == "https://e.com/x.js"


def test_exp_never_outlives_the_issuer() -> None:
    issuer = {**PROFILE, "exp": 5000}
    assert plan(issuer, {}).claims["exp"] == 5000
    assert plan(issuer, {"exp": 9000}).claims["exp"] == 5000
    assert plan(issuer, {"exp": 3000}).claims["exp"] == 3000
    with pytest.raises(BadRequest, match="later than 'nbf'"):
        plan(issuer, {"nbf": 6000})


def test_container_limits_are_inherited_and_may_only_tighten() -> None:
    issuer = {**PROFILE, "lm": 10, "lts": 1}
    assert plan(issuer, {}).claims["lm"] == 10
    assert "lts" not in plan(issuer, {}).claims
    assert plan(issuer, {"lm": "5"}).claims["lm"] == 5
    with pytest.raises(Forbidden, match="loosen"):
        plan(issuer, {"lm": 11})


def test_pb_defaults_to_2_and_mb_is_kept_as_sent() -> None:
    assert plan(PROFILE, {}).claims["pb"] == 2
    assert "mb" not in plan(PROFILE, {}).claims
    claims = plan(PROFILE, {"pb": "0", "mb": 0}).claims
    assert (claims["pb"], claims["mb"]) == (0, 0)


def test_from_put_maps_a_put_body_to_an_issue_body() -> None:
    body = issuance.from_put("acme", "x", {"code": "c", "secrets": {"s": 1}, "host": "h.io"})
    assert body == {
        "ten": "acme",
        "jtn": "x",
        "dd": 0,
        "meta": {},
        "ectx": {"s": "1"},
        "code": "c",
        "host": "h.io",
    }
    with pytest.raises(BadRequest, match="exactly one of 'code'"):
        issuance.from_put("acme", "x", {})
    with pytest.raises(BadRequest, match=r"'secrets\.a' must be a string"):
        issuance.from_put("acme", "x", {"code": "c", "secrets": {"a": [1]}})


WEBTASK = {"jti": "wt", "ca": ["root", "prof"], "ten": "acme", "jtn": "hello", "dd": 0, "dr": 1}


def test_ancestors_and_self_may_inspect() -> None:
    lineage.may_inspect(PROFILE, WEBTASK)
    lineage.may_inspect({"jti": "root", "ten": "zzz", "dd": 3}, WEBTASK)
    lineage.may_inspect(PROFILE, PROFILE)


def test_container_managers_may_inspect_named_webtasks() -> None:
    other_profile = {"jti": "other", "ca": [], "ten": "acme", "dd": 1}
    lineage.may_inspect(other_profile, WEBTASK)
    lineage.may_inspect(ADMIN, WEBTASK)
    with pytest.raises(Forbidden):
        lineage.may_inspect({"jti": "o", "ca": [], "ten": "else", "dd": 1}, WEBTASK)
    with pytest.raises(Forbidden):
        lineage.may_inspect(other_profile, {"jti": "u", "ca": ["x"], "ten": "acme"})


@pytest.mark.parametrize("carried", ["url", "code", "ectx"])
def test_tokens_with_code_or_secrets_may_not_inspect(carried: str) -> None:
    with pytest.raises(Forbidden, match="carries code or secrets"):
        lineage.may_inspect({**PROFILE, carried: "x"}, WEBTASK)


def test_revocation_rules() -> None:
    lineage.may_revoke(PROFILE, WEBTASK)
    lineage.may_revoke(PROFILE, PROFILE)
    with pytest.raises(Forbidden, match="may not revoke itself"):
        lineage.may_revoke(WEBTASK, WEBTASK)
    with pytest.raises(Forbidden, match="only revoke tokens it issued"):
        lineage.may_revoke({"jti": "o", "ca": [], "ten": "else", "dd": 1}, PROFILE)
    with pytest.raises(Forbidden):
        lineage.may_revoke({"jti": "o", "ca": [], "ten": "acme", "dd": 0}, WEBTASK)
    lineage.may_revoke(ADMIN, PROFILE)
