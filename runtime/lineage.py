"""Token lineage: who may inspect or revoke which token.

After webtask.io's api_inspect and api_revoke: a token's ``ca`` lists its ancestors' ``jti``s,
root first (``issuance.lineage``); revoking a token revokes every token whose chain contains it
(``runtime.auth`` checks the whole chain on every request).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runtime.errors import Forbidden
from runtime.issuance import is_regex
from runtime.tokens import container_allowed


def _chain(claims: Mapping[str, Any]) -> Sequence[str]:
    ancestors = claims.get("ca", [])
    return [jti for jti in ancestors if isinstance(jti, str)] if isinstance(ancestors, list) else []


def _manages(caller: Mapping[str, Any], subject: Mapping[str, Any]) -> bool:
    """A master token, or a token that may issue into the named webtask's container."""
    if not isinstance(caller.get("dd"), int) or caller["dd"] < 1:
        return False
    if "ten" not in caller:
        return True
    ten = subject.get("ten")
    return (
        isinstance(subject.get("jtn"), str)
        and isinstance(ten, str)
        and not is_regex(ten)
        and "," not in ten
        and container_allowed(caller["ten"], ten)
    )


def may_inspect(caller: Mapping[str, Any], subject: Mapping[str, Any]) -> None:
    """403 unless ``caller`` may read ``subject``'s claims (api_inspect).

    The caller must carry neither code nor secrets, and ``subject`` must be the caller itself,
    descend from it, or be a named webtask in a container the caller manages (it could read that
    webtask with ``GET /api/webtask/...?decrypt=true`` anyway).
    """
    if any(key in caller for key in ("url", "code", "ectx")):
        raise Forbidden(
            "A token that carries code or secrets ('url', 'code', 'ectx') cannot inspect."
        )
    jti = caller.get("jti")
    if jti is not None and (jti == subject.get("jti") or jti in _chain(subject)):
        return
    if _manages(caller, subject):
        return
    raise Forbidden("This token may only inspect itself and tokens it issued, directly or not.")


def may_revoke(caller: Mapping[str, Any], subject: Mapping[str, Any]) -> None:
    """403 unless ``caller`` may revoke ``subject`` (api_revoke).

    Ancestors may revoke; a token may revoke itself unless it carries ``dr: 1``; managers of a
    named webtask's container (and master tokens) may revoke its tokens.
    """
    jti = caller.get("jti")
    if jti is not None and jti == subject.get("jti"):
        if subject.get("dr"):
            raise Forbidden("This token carries 'dr: 1': it may not revoke itself.")
        return
    if jti is not None and jti in _chain(subject):
        return
    if _manages(caller, subject):
        return
    raise Forbidden("This token may only revoke tokens it issued, directly or not.")
