"""``wthost hook create FILE --extension E``: install a rule as a tenant's token hook.

Unlike ``api|client|user``, this goes through the running server's webtask API (with a container
token minted from the data dir): rules are compiled in the server's sandbox, the run path caches
them, and enabling a hook there disables the tenant's previous enabled hook of its type.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from runtime import tokens
from runtime.errors import APIError
from runtime.keys import node_keys
from runtime.oauth.registry import parse_metadata
from runtime.settings import Settings

COMPILERS = {
    "password-exchange": "auth0-ext-compilers/password-exchange",
    "credentials-exchange": "auth0-ext-compilers/client-credentials-exchange",
    "client-credentials-exchange": "auth0-ext-compilers/client-credentials-exchange",
}


def server_url(url: str | None, settings: Settings) -> str:
    if url:
        return url.rstrip("/")
    if settings.public_url:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _fail(message: str) -> int:
    print(f"wthost: {message}", file=sys.stderr)
    return 1


def cmd_hook_create(args: argparse.Namespace) -> int:
    settings = Settings.from_environ(data_dir=args.data_dir)
    container = args.container or settings.tenant
    name = args.name or args.extension
    try:
        code = Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    try:
        rule_secrets = parse_metadata(args.secret or [], "secret")
    except APIError as exc:
        return _fail(exc.message)
    secret = secrets.token_hex(32)
    meta = {
        "wt-compiler": COMPILERS[args.extension],
        "auth0-extension": "runtime",
        "auth0-extension-name": args.extension,
        "auth0-extension-secret": secret,
    }
    if args.disabled:
        meta["auth0-extension-disabled"] = "true"
    claims: dict[str, Any] = {
        "jti": tokens.new_jti(),
        "iat": int(time.time()),
        "ca": [],
        "ten": container,
        "dd": 1,
    }
    token = tokens.sign(claims, node_keys(settings))
    url = server_url(args.url, settings)
    body = {
        "code": code,
        "meta": meta,
        "secrets": {**rule_secrets, "auth0-extension-secret": secret},
    }
    try:
        response = httpx.put(
            f"{url}/api/webtask/{quote(container, safe='')}/{quote(name, safe='')}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        return _fail(
            f"cannot reach the server at {url} ({exc}); start `wthost serve` or pass --url."
        )
    try:
        answer: Any = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict):
        message = answer.get("message") if isinstance(answer, dict) else None
        return _fail(f"the server refused the hook (HTTP {response.status_code}): {message}")
    described = {
        "container": container,
        "name": name,
        "extension": args.extension,
        "enabled": not args.disabled,
        "webtask_url": answer.get("webtask_url"),
    }
    print(json.dumps(described, indent=2))
    return 0


def add_command(sub: Any) -> None:
    """Add the ``hook`` command group to the ``wthost`` parser."""
    hook = sub.add_parser(
        "hook",
        help="Install a rule as a tenant's token hook.",
        description="Install a rule as a tenant's token hook.",
    )
    hook_sub = hook.add_subparsers(dest="hook_command", required=True, metavar="COMMAND")
    text = (
        "Upload FILE as the tenant's hook through the running server, with a fresh "
        "auth0-extension-secret; enabling it disables the previous hook of its type."
    )
    create = hook_sub.add_parser("create", help=text, description=text)
    create.add_argument("file", metavar="FILE", help="The rule's source (Python or JavaScript).")
    create.add_argument(
        "--extension",
        required=True,
        choices=sorted(COMPILERS),
        help="password-exchange for the password grant; credentials-exchange (or "
        "client-credentials-exchange) for client_credentials.",
    )
    create.add_argument("--name", help="Webtask name (default: the extension).")
    create.add_argument(
        "--secret", action="append", metavar="KEY=VALUE", help="A secret for the rule (repeat)."
    )
    create.add_argument("--disabled", action="store_true", help="Install it disabled.")
    create.add_argument(
        "--container", help="Tenant (container) to install into (WTHOST_TENANT, default 'default')."
    )
    create.add_argument(
        "--url",
        help="The running server (default: WTHOST_PUBLIC_URL, else http://WTHOST_HOST:WTHOST_PORT).",
    )
    create.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR): signs the upload token.")
    create.set_defaults(handler=cmd_hook_create)
