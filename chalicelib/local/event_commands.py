"""`strata events query|replay`: the events archive, read with this machine's AWS access
(not through the API): the local stack's embedded AWS, or a deployed stage's bucket.

    strata events query "SELECT type, count(*) FROM events GROUP BY type"
    strata events replay --to 2026-12-01T00:00:00Z [--table NAME]

Where the archive is: STRATA_AWS_ENDPOINT_URL (the local stack prints its embedded AWS
URL; `--aws-endpoint` beats it), STRATA_RESOURCE_PREFIX and STRATA_BUCKET, as the service
reads them (chalicelib/settings.py). `query` runs DuckDB over a copy of the Parquet files
(the view `events`); `replay` folds them into the read models of every repository and
writes those into an empty table of the repositories table's shape (made when missing).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.client import ClientError
from chalicelib.errors import StrataError
from chalicelib.settings import Settings

# boto3 and DuckDB are imported when a command runs: every other `strata`
# command starts without them.


class EventCommandError(ClientError):
    """What `strata events` prints as its one error line (exit 1, as a failed request)."""


def add_event_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    events = sub.add_parser("events", parents=[common], help="query or replay the events archive")
    actions = events.add_subparsers(dest="action", required=True, parser_class=type(events))
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--aws-endpoint", metavar="URL", help="the embedded AWS (STRATA_AWS_ENDPOINT_URL)"
    )
    where.add_argument("--bucket", help="the index bucket (STRATA_BUCKET, else the stage's)")

    query = actions.add_parser(
        "query", parents=[common, where], help="run SQL (DuckDB) over the view `events`"
    )
    query.add_argument("sql", metavar="SQL")
    query.set_defaults(run=cmd_events_query)

    replay = actions.add_parser(
        "replay", parents=[common, where], help="rebuild repository read models into a table"
    )
    replay.add_argument("--to", required=True, metavar="TIME", help="ISO 8601 or epoch seconds")
    replay.add_argument("--table", help="an empty table (default <prefix>-repositories-replay)")
    replay.set_defaults(run=cmd_events_replay)


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings.from_env()
    if args.aws_endpoint:
        s = replace(s, endpoint_url=args.aws_endpoint)
    if args.bucket:
        s = replace(s, bucket_name=args.bucket)
    return s


def _session(s: Settings) -> Any:
    import boto3

    session = boto3.session.Session(region_name=s.region)
    if s.endpoint_url and session.get_credentials() is None:  # the embedded AWS takes any
        session = boto3.session.Session(
            region_name=s.region, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return session


def _archive(s: Settings) -> Any:
    from chalicelib.adapters.s3_event_archive import S3EventArchive

    return S3EventArchive(_session(s).client("s3", endpoint_url=s.endpoint_url), s.names.bucket)


def cmd_events_query(api: object, args: argparse.Namespace) -> int:
    from chalicelib.adapters.duckdb_event_query import run_query

    s = _settings(args)
    try:
        result = run_query(_archive(s), args.sql)
    except StrataError as exc:
        raise EventCommandError(f"cannot read the archive: {exc}") from None
    except Exception as exc:  # duckdb.Error: the operator's SQL
        raise EventCommandError(f"query failed: {exc}") from None
    if args.json:
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print("\t".join(result.columns))
    for row in result.rows:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def cmd_events_replay(api: object, args: argparse.Namespace) -> int:
    from chalicelib.adapters.dynamo_event_feed import DynamoReadModelStore
    from chalicelib.local.provision import ensure_table, load_resources
    from chalicelib.services.event_history import Replayer

    s = _settings(args)
    table = args.table or f"{s.resource_prefix}-repositories-replay"
    session = _session(s)
    ensure_table(
        session.client("dynamodb", endpoint_url=s.endpoint_url),
        table,
        load_resources()["tables"]["repositories"],
    )
    target = DynamoReadModelStore(table, s.region, s.endpoint_url)
    try:
        report = Replayer(archive=_archive(s), target=target).replay(args.to)
    except StrataError as exc:
        raise EventCommandError(str(exc)) from None
    until = datetime.fromtimestamp(report.until, UTC).isoformat().replace("+00:00", "Z")
    summary = {
        "table": table,
        "until": until,
        "events": report.events,
        "repositories": report.repositories,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{table}: {report.repositories} repositories rebuilt from {report.events} "
            f"archived events up to {until}"
        )
    return 0
