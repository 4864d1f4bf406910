"""Unnamed runs (``/api/run/{container}``): which code runs, with whose secrets.

The code comes, in this order, from the caller's token (its ``code`` claim, or its ``url`` claim
naming stored code), from ``?webtask_url=``, or from the request body (any Content-Type; GET and
DELETE have no body to send it in). URLs must be the ``webtask://`` URL of a named webtask's
stored code in the same container: the server never fetches code from the network. The token's
claims give the secrets (``ectx``), params, meta and body flags, as for a named webtask; the
token itself is shown to the code (``ctx.token``) when it fixes the code, or with
``?webtask_share_token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from compilers import UnknownCompiler, get_compiler
from runtime.errors import BadRequest
from runtime.names import CODE_URL_PREFIX
from runtime.services import Services
from runtime.store import WebtaskRecord
from runtime.webtasks import Runnable, claimed_params, module_api, rule_hash

BODYLESS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})


class CodeTooLarge(Exception):
    """The code in the request body is over ``WTHOST_MAX_CODE_BYTES`` (the caller's fault)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The code is larger than the {limit}-byte limit.")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Unnamed:
    """An unnamed run: what to run, the body left for the rule, the token it may see."""

    runnable: Runnable
    body: bytes
    token: str | None


async def resolve(
    svc: Services,
    container: str,
    claims: Mapping[str, Any],
    token: str,
    *,
    method: str,
    query: Mapping[str, str],
    body: bytes,
) -> Unnamed:
    """The run ``token`` (with verified ``claims``) asks for in ``container``. Raises
    ``BadRequest``, ``NotFound`` (no such stored code) or ``CodeTooLarge``."""
    fixed = True
    code_claim, url_claim = claims.get("code"), claims.get("url")
    if isinstance(code_claim, str):
        code = code_claim
    elif isinstance(url_claim, str):
        code = await stored_code(svc, container, url_claim, "the token's url claim")
    elif query.get("webtask_url"):
        fixed = False
        code = await stored_code(svc, container, query["webtask_url"], "webtask_url")
    else:
        fixed = False
        if method in BODYLESS:
            raise BadRequest(
                f"A {method} request has no body to carry code: name stored code with "
                "?webtask_url=webtask://... or use POST."
            )
        if len(body) > svc.settings.max_code_bytes:
            raise CodeTooLarge(svc.settings.max_code_bytes)
        try:
            code = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("The code in the request body is not UTF-8 text.") from exc
        body = b""
        if not code.strip():
            raise BadRequest(
                "No code to run: send it as the request body, or name stored code with "
                "?webtask_url=webtask://..."
            )
    meta = _strings(claims.get("meta"))
    language = meta.get("wt-language") or None
    try:
        compiler = get_compiler(meta)
    except UnknownCompiler as exc:
        raise BadRequest(str(exc)) from exc
    ectx = claims.get("ectx")
    secrets = svc.webtasks.open_ectx(ectx, claims.get("ten")) if isinstance(ectx, str) else {}
    api = module_api(code, secrets, meta, claimed_params(claims))
    record = WebtaskRecord(
        container=container,
        name="",
        code=code,
        meta_sealed="",
        meta_index=(),
        secrets_sealed=None,
        token=token,
        claims=claims,
    )
    runnable = Runnable(
        record=record,
        meta=meta,
        secrets=secrets,
        compiler=compiler,
        code_hash=rule_hash(code, language, api),
        language=language,
        named=False,
        module_api=api,
    )
    shared = fixed or "webtask_share_token" in query
    return Unnamed(runnable=runnable, body=body, token=token if shared else None)


async def stored_code(svc: Services, container: str, url: str, source: str) -> str:
    """The code a ``webtask://`` URL names (only in ``container``); 400 for other URLs."""
    if url.startswith(("http://", "https://")):
        raise BadRequest(
            f"{source} {url!r} is a network URL, and wthost never fetches code: create a named "
            f"webtask with the code and use its URL ({CODE_URL_PREFIX}...), or send the code "
            "in the request body."
        )
    if not url.startswith(CODE_URL_PREFIX):
        raise BadRequest(
            f"{source} {url!r} is not supported: use the {CODE_URL_PREFIX}... URL of a named "
            "webtask's stored code."
        )
    owner, _, name = unquote(url.removeprefix(CODE_URL_PREFIX)).partition("/")
    if owner != container or not name:
        raise BadRequest(
            f"{source} {url!r} names code outside container {container!r}; only the stored "
            "code of this container can run here."
        )
    record = await svc.webtasks.get(container, name)  # 404 when there is no such webtask
    return record.code


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
