"""``wthost keys export``: the environment lines that give every node of a cluster one set of
keys (webtask tokens, secrets at rest, OAuth access tokens)."""

from __future__ import annotations

import argparse

from runtime.keys import export_lines, node_keys
from runtime.oauth.signing import export_line, node_signing_key
from runtime.settings import Settings


def cmd_export(args: argparse.Namespace) -> int:
    settings = Settings.from_environ(data_dir=args.data_dir)
    # Deliberately printed: this is how an operator moves the keys into a secret store.
    for line in [*export_lines(node_keys(settings)), export_line(node_signing_key(settings))]:
        print(line)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser(
        "keys", help="Share key material between nodes.", description="Manage key material."
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    export = keys_sub.add_parser(
        "export",
        help="Print WTHOST_TOKEN_KEY, WTHOST_SECRETS_KEY and WTHOST_SIGNING_KEY lines.",
        description="Print the keys this node uses (the data dir's key files, created when "
        "missing, or the WTHOST_*_KEY variables) as an environment file for every node of a "
        "cluster. The output is secret: store it as such.",
    )
    export.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR).")
    export.set_defaults(handler=cmd_export)
