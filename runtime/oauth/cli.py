"""``wthost api|client|user create|list|delete``: manage a tenant's OAuth records.

These commands open the data dir's database directly rather than calling the admin HTTP API:
they work whether or not the server runs (SQLite WAL lets both write), need no URL or token,
and the server reads these records on every token request, so a change applies at once.
To manage a remote server, use the admin HTTP API (``/api/oauth/{container}/...``).
``wthost hook create`` (``hook_cli``) installs a rule as the tenant's hook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from runtime import backends
from runtime.errors import APIError
from runtime.oauth import hook_cli
from runtime.oauth.records import GRANTS
from runtime.oauth.registry import (
    Registry,
    describe_api,
    describe_client,
    describe_user,
    parse_metadata,
)
from runtime.settings import Settings

Action = Callable[[Registry, str, argparse.Namespace], Awaitable[Any]]


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        settings = Settings.from_environ(data_dir=args.data_dir)
        container = args.container or settings.tenant

        async def main() -> Any:
            store = backends.make_store(settings)  # the one the server uses
            await store.open()
            try:
                return await action(Registry(store), container, args)
            finally:
                await store.close()

        try:
            result = asyncio.run(main())
        except APIError as exc:
            print(f"wthost: {exc.message}", file=sys.stderr)
            return 1
        if result is not None:
            print(json.dumps(result, indent=2))
        return 0

    return handler


async def _api_create(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    api = await registry.create_api(container, args.identifier, args.scope or [], args.name)
    return describe_api(api)


async def _api_list(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    return [describe_api(api) for api in await registry.list_apis(container)]


async def _api_delete(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    await registry.delete_api(container, args.identifier)
    return None


async def _client_create(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    client, secret = await registry.create_client(
        container,
        args.name,
        public=args.public,
        grants=args.grant,
        metadata=parse_metadata(args.metadata or []),
    )
    return describe_client(client, secret)


async def _client_list(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    return [describe_client(client) for client in await registry.list_clients(container)]


async def _client_delete(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    await registry.delete_client(container, args.client_id)
    return None


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    text = sys.stdin.readline()
    return text[:-1] if text.endswith("\n") else text


async def _user_create(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    user = await registry.create_user(container, args.email, _password(args).rstrip("\r"))
    return describe_user(user)


async def _user_list(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    return [describe_user(user) for user in await registry.list_users(container)]


async def _user_delete(registry: Registry, container: str, args: argparse.Namespace) -> Any:
    await registry.delete_user(container, args.email)
    return None


def _command(group: Any, name: str, help_text: str, action: Action) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "--container", help="Tenant (container) to manage (WTHOST_TENANT, default 'default')."
    )
    parser.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR).")
    parser.set_defaults(handler=_run(action))
    return parser


def add_commands(sub: Any) -> None:
    """Add the ``api``, ``client``, ``user`` and ``hook`` command groups to ``wthost``."""
    api = sub.add_parser(
        "api",
        help="Manage the APIs (token audiences) of a tenant.",
        description="Manage the APIs (token audiences) of a tenant.",
    )
    api_sub = api.add_subparsers(dest="api_command", required=True, metavar="COMMAND")
    create = _command(api_sub, "create", "Define an API and the scopes it offers.", _api_create)
    create.add_argument("--identifier", required=True, help="The API's URI: the tokens' aud.")
    create.add_argument(
        "--scope", action="append", help="A scope the API defines (repeat for more)."
    )
    create.add_argument("--name", help="Display name (default: the identifier).")
    _command(api_sub, "list", "Print the tenant's APIs as JSON.", _api_list)
    delete = _command(api_sub, "delete", "Delete an API.", _api_delete)
    delete.add_argument("--identifier", required=True, help="The API's URI.")

    client = sub.add_parser(
        "client",
        help="Manage the client applications of a tenant.",
        description="Manage the client applications of a tenant.",
    )
    client_sub = client.add_subparsers(dest="client_command", required=True, metavar="COMMAND")
    create = _command(
        client_sub,
        "create",
        "Register a client; prints its client_id (and client_secret, shown only once).",
        _client_create,
    )
    create.add_argument("--name", required=True, help="Display name, passed to hooks.")
    create.add_argument(
        "--public",
        action="store_true",
        help="A public client: no secret (client authentication 'none').",
    )
    create.add_argument(
        "--grant",
        action="append",
        choices=GRANTS,
        help="A grant the client may use (repeat; default: password for public clients, "
        "both for confidential ones).",
    )
    create.add_argument(
        "--metadata", action="append", metavar="KEY=VALUE", help="Client metadata (repeat)."
    )
    _command(client_sub, "list", "Print the tenant's clients as JSON (no secrets).", _client_list)
    delete = _command(client_sub, "delete", "Delete a client.", _client_delete)
    delete.add_argument("--client-id", required=True, help="The client's id.")

    user = sub.add_parser(
        "user",
        help="Manage the users of a tenant (password grant).",
        description="Manage the users of a tenant (password grant).",
    )
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    create = _command(
        user_sub, "create", "Add a user; the password is stored as an argon2id hash.", _user_create
    )
    create.add_argument("--email", required=True, help="The user's email (their username).")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--password-stdin", action="store_true", help="Read the password from standard input."
    )
    source.add_argument(
        "--password", help="The password (visible to other local users: prefer --password-stdin)."
    )
    _command(user_sub, "list", "Print the tenant's users as JSON.", _user_list)
    delete = _command(user_sub, "delete", "Delete a user.", _user_delete)
    delete.add_argument("--email", required=True, help="The user's email.")

    hook_cli.add_command(sub)
