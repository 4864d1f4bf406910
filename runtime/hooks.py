"""Auth0 hook conventions (wt-cli's ``auth0`` command, auth0-ext-compilers README).

A webtask is a hook when meta ``auth0-extension`` is ``runtime``; ``auth0-extension-name`` is its
type (``credentials-exchange``, ``pre-user-registration``, ...) and a truthy
``auth0-extension-disabled`` turns it off, exactly as ``auth0 ls`` decides.

At most one hook of a type may be enabled per container, as in Auth0 where enabling a hook
disables the previous one. The server keeps it so at write time: writing an enabled hook (PUT,
issue, ``auth0 enable``, ``auth0 create`` of an enabled hook) first disables the other enabled
hooks of its type (meta ``auth0-extension-disabled: "1"``), and the enabled hook holds the
container's *slot* for its type (``enabled_type``), which the store gives to one webtask only, so
two concurrent enables cannot both win (the loser gets 409). ``auth0 enable`` disables the others
itself before enabling, and ``auth0 create`` makes new hooks disabled, so wt never meets the 409.
"""

from __future__ import annotations

from collections.abc import Mapping

EXTENSION = "auth0-extension"
EXTENSION_NAME = "auth0-extension-name"
DISABLED = "auth0-extension-disabled"
RUNTIME = "runtime"


def is_hook(meta: Mapping[str, str]) -> bool:
    return meta.get(EXTENSION) == RUNTIME and bool(meta.get(EXTENSION_NAME))


def enabled_type(meta: Mapping[str, str]) -> str | None:
    """The hook type whose slot this webtask holds: set for enabled hooks only."""
    if not is_hook(meta) or meta.get(DISABLED):
        return None
    return meta[EXTENSION_NAME]
