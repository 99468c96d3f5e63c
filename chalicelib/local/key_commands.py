"""`strata keys create|list|revoke`: manage API keys through the API (an admin key needed).

    strata keys create --tenant T --scope read|index|admin [--name N]
    strata keys list [--tenant T]
    strata keys revoke KEY_ID

Through `chalicelib.client`, like the rest of the CLI.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from chalicelib.client import StrataClient

SCOPES = ("read", "index", "admin")


def add_key_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", parents=[common], help="create, list or revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True, parser_class=type(keys))

    create = actions.add_parser("create", parents=[common], help="make a key (shown once)")
    create.add_argument("--tenant", required=True, help="whose key it is (lowercase name)")
    create.add_argument("--scope", required=True, choices=SCOPES)
    create.add_argument("--name", help="a note to recognise it by")
    create.set_defaults(run=cmd_keys_create)

    listing = actions.add_parser("list", parents=[common], help="every key, without secrets")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.set_defaults(run=cmd_keys_list)

    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key (idempotent)")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(run=cmd_keys_revoke)


def cmd_keys_create(api: StrataClient, args: argparse.Namespace) -> int:
    created = api.create_key(args.tenant, args.scope, name=args.name or None).dump()
    if args.json:
        print(json.dumps(created, indent=2))
        return 0
    print(f"Created key {created['keyId']} ({created['tenant']}, {created['scope']}).")
    print("Keep it now: it is not shown again.")
    print(created["key"])
    return 0


def cmd_keys_list(api: StrataClient, args: argparse.Namespace) -> int:
    listed = api.list_keys(args.tenant or None).dump()
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    for key in listed["keys"]:
        print(key_line(key))
    if not listed["keys"]:
        print("no keys")
    return 0


def cmd_keys_revoke(api: StrataClient, args: argparse.Namespace) -> int:
    revoked = api.revoke_key(args.key_id).dump()
    if args.json:
        print(json.dumps(revoked, indent=2))
        return 0
    print(f"{revoked['keyId']}: revoked at {revoked['revokedAt']}")
    return 0


def key_line(key: dict[str, Any]) -> str:
    state = f"revoked {key['revokedAt']}" if key.get("revokedAt") else "active"
    used = key.get("lastUsedAt") or "never"
    name = f"  {key['name']}" if key.get("name") else ""
    return (
        f"{key['keyId']}  {key['tenant']:<16} {key['scope']:<5}  {state}, "
        f"created {key['createdAt']}, last used {used}{name}"
    )
