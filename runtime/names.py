"""Names of containers and webtasks, and the ``webtask://`` URL of a named webtask's stored code."""

from __future__ import annotations

import re
from urllib.parse import quote

from runtime.errors import BadRequest

NAME_RE = re.compile(r"^[-a-zA-Z0-9._~!$+=:@]{1,128}$")
CODE_URL_PREFIX = "webtask://localhost/api/data/code/"


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a valid container or webtask name, else 400 naming the ``kind``."""
    if not NAME_RE.match(value):
        raise BadRequest(
            f"Invalid {kind} name {value!r}: use 1-128 characters from a-z, A-Z, 0-9 and "
            "-._~!$+=:@."
        )
    return value


def code_url(container: str, name: str) -> str:
    """The ``url`` claim of a named webtask: its code is stored by the server, not fetched."""
    return CODE_URL_PREFIX + quote(f"{container}/{name}", safe="")
