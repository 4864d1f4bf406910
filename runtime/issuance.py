"""Claim rules of ``POST /api/tokens/issue`` (and of ``PUT /api/webtask``, which issues too).

Pure functions of the issuer's verified claims, the request body and the clock: ``plan`` turns a
body into the child's claims or raises ``BadRequest`` (a malformed claim) / ``Forbidden`` (a claim
the issuer may not delegate). Sealing secrets, storing code and signing are the caller's job.

Rules, after webtask.io's docs (api_issue, api_revoke, api_inspect, limits):
- unknown keys are dropped, so echoed ``jti``, ``secrets`` or ``webtask_url`` are never signed;
- numbers may arrive as strings (``wt token create --exp 2000000000``);
- ``ten`` defaults to the issuer's and may only narrow it; ``jtn`` needs a single literal ``ten``;
- ``dd`` (issuance depth) must stay below the issuer's: webtask tokens (dd 0) issue nothing;
- ``ca`` is the issuer's chain plus the issuer's ``jti``; revoking a token revokes its descendants;
- container limits (``ls``…``lo``) are inherited and may only tighten; ``exp`` never outlives the
  issuer's; ``pb`` defaults to 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import BadRequest, Forbidden
from runtime.names import NAME_RE, code_url
from runtime.tokens import container_allowed

CONTAINER_LIMITS = ("ls", "lm", "lh", "ld", "lw", "lo")
TOKEN_LIMITS = ("lts", "ltm", "lth", "ltd", "ltw", "lto")
KNOWN_CLAIMS = frozenset(
    (
        "ten",
        "jtn",
        "jtnm",
        "dd",
        "dr",
        "code",
        "url",
        "ectx",
        "pctx",
        "meta",
        "pb",
        "mb",
        "nbf",
        "exp",
        "host",
        *CONTAINER_LIMITS,
        *TOKEN_LIMITS,
    )
)
PARSE_MODES = (0, 1, 2)  # never, always, on arity (sandboxjs PARSE_*)
DEFAULT_PB = 2
MAX_TEN_REGEX = 256
MAX_URL = 2048
_DNS = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*"
    r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$"
)
_INT = re.compile(r"^\s*-?\d{1,15}\s*$")
# A quantified group that itself contains a quantifier: the shape of catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A checked issue request.

    ``claims`` are signed as they are, plus ``ectx`` once sealed and, for a named webtask, the
    ``url`` of its stored code. ``ectx`` is plaintext secrets to seal or an already sealed string.
    A named webtask (``name`` set) keeps ``meta`` beside its token; ``code`` None keeps the stored
    code (the body referred to it by its ``webtask://`` URL).
    """

    claims: dict[str, Any]
    ectx: dict[str, str] | str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    container: str | None = None
    name: str | None = None
    code: str | None = None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(claim: str, value: object, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer claim; numeric strings and booleans are accepted as wt-cli sends them."""
    number: int | None = None
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _INT.match(value)
    ):
        number = int(value)
    if number is None:
        raise BadRequest(
            f"Claim '{claim}' must be an integer or a numeric string, not {_show(value)}."
        )
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bounds = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise BadRequest(f"Claim '{claim}' must be an integer {bounds}, not {number}.")
    return number


def flag(claim: str, value: object) -> int:
    """A 0/1 claim (``dr``, ``mb``); also accepts true/false."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return int(value.strip().lower() == "true")
    return integer(claim, value, lo=0, hi=1)


def string_map(field_name: str, value: object) -> dict[str, str]:
    """A JSON object of string values (numbers and booleans are stringified, as wt does)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(
            f"'{field_name}' must be an object of strings, not {type(value).__name__}."
        )
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        if not isinstance(item, str):
            raise BadRequest(f"'{field_name}.{key}' must be a string, not {type(item).__name__}.")
        out[str(key)] = item
    return out


def is_regex(ten: str) -> bool:
    return len(ten) > 2 and ten.startswith("/") and ten.endswith("/")


def normalize_ten(value: object) -> str:
    """A ``ten`` claim as a string: a container name, a comma list or ``/regex/``."""
    if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
        value = ",".join(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(
            f"Claim 'ten' must be a container name, a comma list or a /regex/, not {_show(value)}."
        )
    ten = value.strip()
    if is_regex(ten):
        pattern = ten[1:-1]
        if len(pattern) > MAX_TEN_REGEX:
            raise BadRequest(f"Claim 'ten' is a regex longer than {MAX_TEN_REGEX} characters.")
        if _NESTED_QUANTIFIER.search(pattern):
            raise BadRequest(
                f"Claim 'ten' regex {ten!r} nests quantifiers, which can take exponential time; "
                "simplify it."
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadRequest(f"Claim 'ten' regex {ten!r} does not compile: {exc}.") from exc
        return ten
    parts = [part.strip() for part in ten.split(",")]
    for part in parts:
        if not NAME_RE.match(part):
            raise BadRequest(
                f"Claim 'ten' names an invalid container {part!r}: use 1-128 characters from "
                "a-z, A-Z, 0-9 and -._~!$+=:@."
            )
    return ",".join(parts)


def narrow_ten(issuer_ten: object, requested: object) -> str | None:
    """The child's ``ten``: the issuer's when absent; otherwise it must lie within the issuer's."""
    if requested is None:
        return issuer_ten if isinstance(issuer_ten, str) else None
    ten = normalize_ten(requested)
    if issuer_ten is None:
        return ten
    if is_regex(ten):
        if ten != issuer_ten:
            raise Forbidden(
                f"Claim 'ten' {ten!r} is a regex; this token may only pass on its own "
                f"'ten' ({issuer_ten!r}) or name containers it covers."
            )
        return ten
    for part in ten.split(","):
        if not container_allowed(issuer_ten, part):
            raise Forbidden(f"This token does not grant access to container {part!r}.")
    return ten


def names_list(claim: str, value: object) -> list[str]:
    """``jtnm``: webtask names as a JSON list or a comma list."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"Claim '{claim}' must be a list of webtask names, not {_show(value)}.")
    for item in value:
        if not NAME_RE.match(item):
            raise BadRequest(f"Claim '{claim}' holds an invalid webtask name {item!r}.")
    return list(value)


def issuer_depth(issuer: Mapping[str, Any]) -> int:
    """How deep the issuer may still delegate; 403 for tokens that may issue nothing."""
    raw = issuer.get("dd", 0)
    depth = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    if depth < 1:
        raise Forbidden(
            "This token may not issue tokens: its issuance depth 'dd' is 0. Use a profile or "
            "admin token."
        )
    return depth


def lineage(issuer: Mapping[str, Any]) -> list[str]:
    """The child's ``ca``: the issuer's ancestors, then the issuer."""
    chain = [jti for jti in issuer.get("ca", []) if isinstance(jti, str)]
    if isinstance(issuer.get("jti"), str):
        chain.append(issuer["jti"])
    return chain


def _window(
    issuer: Mapping[str, Any], requested: Mapping[str, Any], claims: dict[str, Any]
) -> None:
    nbf = integer("nbf", requested["nbf"], lo=0) if "nbf" in requested else None
    exp = integer("exp", requested["exp"], lo=0) if "exp" in requested else None
    ceiling = issuer.get("exp")
    if isinstance(ceiling, int) and not isinstance(ceiling, bool):
        exp = ceiling if exp is None else min(exp, ceiling)
    if nbf is not None and exp is not None and exp <= nbf:
        raise BadRequest(f"Claim 'exp' ({exp}) must be later than 'nbf' ({nbf}).")
    if nbf is not None:
        claims["nbf"] = nbf
    if exp is not None:
        claims["exp"] = exp


def _limits(
    issuer: Mapping[str, Any], requested: Mapping[str, Any], claims: dict[str, Any]
) -> None:
    for claim in CONTAINER_LIMITS:
        inherited = issuer.get(claim)
        value = integer(claim, requested[claim], lo=1) if claim in requested else None
        if isinstance(inherited, int) and not isinstance(inherited, bool):
            if value is not None and value > inherited:
                raise Forbidden(
                    f"Claim '{claim}' ({value}) would loosen the issuer's limit of {inherited}."
                )
            value = inherited if value is None else value
        if value is not None:
            claims[claim] = value
    for claim in TOKEN_LIMITS:
        if claim in requested:
            claims[claim] = integer(claim, requested[claim], lo=1)


def _name(issuer: Mapping[str, Any], requested: Mapping[str, Any], ten: str | None) -> str | None:
    if "jtn" not in requested:
        return None
    name = requested["jtn"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise BadRequest(
            f"Claim 'jtn' must be a webtask name of 1-128 characters from a-z, A-Z, 0-9 and "
            f"-._~!$+=:@, not {_show(name)}."
        )
    if ten is None or is_regex(ten) or "," in ten:
        raise BadRequest(f"Claim 'jtn' needs 'ten' to be one literal container, not {_show(ten)}.")
    allowed = issuer.get("jtnm")
    if allowed is not None and name not in names_list("jtnm", allowed):
        raise Forbidden(f"This token may not manage the webtask named {name!r} (see its jtnm).")
    return name


def _code(
    requested: Mapping[str, Any], ten: str | None, name: str | None, max_code_bytes: int
) -> tuple[str | None, str | None]:
    """(code, url) after the checks; for a named webtask the url is dropped once validated."""
    code, url = requested.get("code"), requested.get("url")
    if code is not None:
        if not isinstance(code, str):
            raise BadRequest(f"Claim 'code' must be a string, not {type(code).__name__}.")
        if len(code.encode()) > max_code_bytes:
            raise BadRequest(f"Claim 'code' is larger than the {max_code_bytes}-byte limit.")
        if not code.strip():
            raise BadRequest("Claim 'code' is empty.")
    if url is not None and (not isinstance(url, str) or not url or len(url) > MAX_URL):
        raise BadRequest(f"Claim 'url' must be a URL of at most {MAX_URL} characters.")
    if name is None or ten is None:
        if code is not None and url is not None:
            raise BadRequest("Send at most one of the claims 'code' and 'url'.")
        return code, url
    stored = code_url(ten, name)
    if url is not None and url != stored:
        raise BadRequest(
            f"Unsupported url {url!r}: wthost does not fetch code; a named webtask may only "
            f"refer to its own stored code ({stored}). Send 'code' instead."
        )
    if code is None and url is None:
        raise BadRequest(
            f"A named webtask needs its code: send 'code', or 'url' = {stored} to keep it."
        )
    return code, None


def plan(
    issuer: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    jti: str,
    now: int,
    max_code_bytes: int,
) -> Plan:
    """Check an issue request from ``issuer`` and build the child's claims."""
    requested = {key: value for key, value in body.items() if key in KNOWN_CLAIMS}
    requested = {key: value for key, value in requested.items() if value is not None}
    depth = issuer_depth(issuer)
    dd = integer("dd", requested.get("dd", 0), lo=0)
    if dd >= depth:
        raise Forbidden(
            f"Claim 'dd' is {dd}, but this token may only issue tokens with dd below {depth}."
        )
    ten = narrow_ten(issuer.get("ten"), requested.get("ten"))
    name = _name(issuer, requested, ten)
    claims: dict[str, Any] = {"jti": jti, "iat": now, "ca": lineage(issuer)}
    if ten is not None:
        claims["ten"] = ten
    if name is not None:
        claims["jtn"] = name
    claims["dd"] = dd
    if "jtnm" in requested:
        claims["jtnm"] = names_list("jtnm", requested["jtnm"])
    elif "jtnm" in issuer:
        claims["jtnm"] = names_list("jtnm", issuer["jtnm"])
    if "dr" in requested and flag("dr", requested["dr"]):
        claims["dr"] = 1
    claims["pb"] = integer("pb", requested.get("pb", DEFAULT_PB), lo=0, hi=2)
    if "mb" in requested:
        claims["mb"] = flag("mb", requested["mb"])
    _window(issuer, requested, claims)
    _limits(issuer, requested, claims)
    host = requested.get("host")
    if host is not None and host != "":
        if not isinstance(host, str) or len(host) > 253 or not _DNS.match(host):
            raise BadRequest(
                f"Claim 'host' must be a DNS name or an IP address, not {_show(host)}."
            )
        claims["host"] = host
    pctx = string_map("pctx", requested.get("pctx"))
    if pctx:
        claims["pctx"] = pctx
    meta = string_map("meta", requested.get("meta"))
    code, url = _code(requested, ten, name, max_code_bytes)
    if name is None:
        if code is not None:
            claims["code"] = code
        if url is not None:
            claims["url"] = url
        if meta:
            claims["meta"] = meta
    return Plan(
        claims=claims,
        ectx=_ectx(requested.get("ectx")),
        meta=meta,
        container=ten if name is not None else None,
        name=name,
        code=code if name is not None else None,
    )


def _ectx(value: object) -> dict[str, str] | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    secrets = string_map("ectx", value)
    return secrets or None


def from_put(container: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The issue body equivalent to ``PUT /api/webtask/{container}/{name}`` with ``body``."""
    code, url = body.get("code"), body.get("url")
    if (code is None) == (url is None):
        raise BadRequest("Send exactly one of 'code' (the rule source) or 'url'.")
    if code is not None and not isinstance(code, str):
        raise BadRequest(f"'code' must be a string, not {type(code).__name__}.")
    request: dict[str, Any] = {
        "ten": container,
        "jtn": name,
        "dd": 0,
        "meta": string_map("meta", body.get("meta")),
        "ectx": string_map("secrets", body.get("secrets")),
    }
    if code is not None:
        request["code"] = code
    else:
        request["url"] = url
    if body.get("host"):
        request["host"] = body["host"]
    return request
