"""Small, module-free helpers offered to Python rules.

Rules never get a module object: ``json.codecs.sys.modules['os']`` escapes RestrictedPython.
Each name here is a ``Facade`` whose attributes are plain functions or immutable types, so no
attribute chain leads back to ``sys``. Documented for rule authors in the README.
"""

from __future__ import annotations

import base64 as _base64
import datetime as _datetime
import hashlib as _hashlib
import hmac as _hmac
import json as _json
import math as _math
import random as _random
import re as _re
import time as _time
import urllib.parse as _parse
import uuid as _uuid
from collections.abc import Callable
from typing import Any

from sandbox.values import to_plain, to_rule

MAX_REGEX_PATTERN = 1000
MAX_REGEX_SUBJECT = 100_000
MAX_JSON_TEXT = 4 * 2**20


class Facade:
    """A read-only bag of functions; writes raise (RestrictedPython wraps it as read-only)."""

    __slots__ = ("__members", "__name")

    def __init__(self, name: str, **members: Any) -> None:
        object.__setattr__(self, "_Facade__name", name)
        object.__setattr__(self, "_Facade__members", members)

    def __getattr__(self, name: str) -> Any:
        members: dict[str, Any] = object.__getattribute__(self, "_Facade__members")
        if name.startswith("_") or name not in members:
            raise AttributeError(f"{self.__name} has no attribute {name!r}.")
        return members[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{self.__name} is read-only.")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_Facade__members"))

    def __repr__(self) -> str:
        return f"<{self.__name}>"


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str) or len(pattern) > MAX_REGEX_PATTERN:
        raise ValueError(
            f"Regular expressions must be strings of at most {MAX_REGEX_PATTERN} characters."
        )


def _check_subject(subject: Any) -> None:
    if isinstance(subject, str) and len(subject) > MAX_REGEX_SUBJECT:
        raise ValueError(
            f"Regular expressions only run on strings of at most {MAX_REGEX_SUBJECT} characters."
        )


def _regex(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(pattern: str, string: str, *args: Any, **kwargs: Any) -> Any:
        _check_pattern(pattern)
        _check_subject(string)
        result = fn(pattern, string, *args, **kwargs)
        return _match_data(result) if isinstance(result, _re.Match) else result

    call.__name__ = fn.__name__
    return call


def _match_data(match: _re.Match[str]) -> Facade:
    return Facade(
        "match",
        group=match.group,
        groups=match.groups,
        groupdict=match.groupdict,
        start=match.start,
        end=match.end,
        span=match.span,
        string=match.string,
    )


def _sub(pattern: str, repl: str, string: str, count: int = 0, flags: int = 0) -> str:
    _check_pattern(pattern)
    _check_subject(string)
    if not isinstance(repl, str):
        raise TypeError("re.sub only takes a string replacement here.")
    return _re.sub(pattern, repl, string, count=count, flags=flags)


def _finditer(pattern: str, string: str, flags: int = 0) -> list[Facade]:
    _check_pattern(pattern)
    _check_subject(string)
    return [_match_data(m) for m in _re.finditer(pattern, string, flags)]


def _loads(text: str | bytes) -> Any:
    if len(text) > MAX_JSON_TEXT:
        raise ValueError(f"json.loads takes at most {MAX_JSON_TEXT} characters.")
    return to_rule(_json.loads(text))


def _dumps(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    return _json.dumps(to_plain(value), indent=indent, sort_keys=sort_keys, ensure_ascii=False)


def _digest(name: str) -> Callable[[str | bytes], str]:
    def hexdigest(data: str | bytes) -> str:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return _hashlib.new(name, raw).hexdigest()

    return hexdigest


def _hmac_hex(key: str | bytes, message: str | bytes, digest: str = "sha256") -> str:
    if digest not in ("sha1", "sha256", "sha384", "sha512", "md5"):
        raise ValueError("hmac digest must be one of sha1, sha256, sha384, sha512, md5.")
    raw_key = key.encode() if isinstance(key, str) else bytes(key)
    raw_msg = message.encode() if isinstance(message, str) else bytes(message)
    return _hmac.new(raw_key, raw_msg, digest).hexdigest()


def _b64(fn: Callable[[bytes], bytes]) -> Callable[[str | bytes], str]:
    def call(data: str | bytes) -> str:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return fn(raw).decode("latin-1")

    return call


def build_facades(rng: _random.Random) -> dict[str, Facade]:
    """Fresh facades for one worker; ``rng`` is the worker's own random state."""
    return {
        "json": Facade("json", loads=_loads, dumps=_dumps),
        "math": Facade(
            "math",
            **{
                name: getattr(_math, name)
                for name in (
                    "ceil",
                    "floor",
                    "sqrt",
                    "pow",
                    "log",
                    "log2",
                    "log10",
                    "exp",
                    "fabs",
                    "isclose",
                    "isfinite",
                    "isnan",
                    "trunc",
                    "gcd",
                    "pi",
                    "e",
                    "inf",
                    "nan",
                    "sin",
                    "cos",
                    "tan",
                    "atan2",
                    "hypot",
                    "fsum",
                )
            },
        ),
        "re": Facade(
            "re",
            match=_regex(_re.match),
            search=_regex(_re.search),
            fullmatch=_regex(_re.fullmatch),
            findall=_regex(_re.findall),
            split=_regex(_re.split),
            finditer=_finditer,
            sub=_sub,
            escape=_re.escape,
            IGNORECASE=int(_re.IGNORECASE),
            MULTILINE=int(_re.MULTILINE),
            DOTALL=int(_re.DOTALL),
        ),
        "datetime": Facade(
            "datetime",
            datetime=_datetime.datetime,
            date=_datetime.date,
            timedelta=_datetime.timedelta,
            timezone=_datetime.timezone,
            utc=_datetime.UTC,
        ),
        "time": Facade("time", time=_time.time, monotonic=_time.monotonic),
        "hashlib": Facade(
            "hashlib",
            md5=_digest("md5"),
            sha1=_digest("sha1"),
            sha256=_digest("sha256"),
            sha512=_digest("sha512"),
        ),
        "hmac": Facade("hmac", hexdigest=_hmac_hex, compare_digest=_hmac.compare_digest),
        "base64": Facade(
            "base64",
            b64encode=_b64(_base64.b64encode),
            b64decode=_b64(_base64.b64decode),
            urlsafe_b64encode=_b64(_base64.urlsafe_b64encode),
            urlsafe_b64decode=_b64(_base64.urlsafe_b64decode),
        ),
        "uuid": Facade("uuid", uuid4=lambda: str(_uuid.uuid4())),
        "random": Facade(
            "random",
            random=rng.random,
            randint=rng.randint,
            choice=rng.choice,
            shuffle=rng.shuffle,
            uniform=rng.uniform,
        ),
        "urllib": Facade(
            "urllib",
            quote=_parse.quote,
            quote_plus=_parse.quote_plus,
            unquote=_parse.unquote,
            unquote_plus=_parse.unquote_plus,
            urlencode=_parse.urlencode,
            parse_qs=_parse.parse_qs,
        ),
    }
