"""`strata`: the command line for a Strata API (the local stack by default).

    strata serve [--port P] [--no-demo] [--no-durability]   run the local stack (`make run`)
    strata index PATH|URL|OWNER/REPO|ID [--branch B] [--force]
    strata status ID
    strata search ID QUERY [-k N]
    strata ask ID QUESTION [--conversation C]
    strata keys create --tenant T --scope read|index|admin [--name N] | list | revoke ID

`--api URL` (or STRATA_API) points at another deployment; `--json` prints the raw response.
Requests carry the API key of STRATA_API_KEY, else the one `strata serve` saved in
`.strata/api-key` (STRATA_STATE_DIR), as `Authorization: Bearer`.
Errors print one line on stderr and exit non-zero (2 for a usage error). Only the standard
library is used here; `serve` imports the stack when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chalicelib.local.api_client import ApiError, Reply, StrataApi, repository_path
from chalicelib.local.config import LocalConfig
from chalicelib.local.key_commands import add_key_commands
from chalicelib.local.render import Progress, answer_text, hits_text, stats_lines, status_text

_ID = re.compile(r"^(github|git|local):\S+$")
_OWNER_REPO = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)$")
POLL_SECONDS = 0.5
DESCRIPTION = "Index git repositories and query them through a Strata API."


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line instead of usage + message, no exit
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def index_body(target: str, branch: str | None, force: bool) -> dict[str, Any]:
    """The POST /repositories/index body for a directory, URL, owner/repo or repository id."""
    path = Path(target).expanduser()
    body: dict[str, Any]
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{target} is not a directory")
        body = {"url": str(path.resolve())}
    elif target.startswith("https://"):
        body = {"url": target}
    elif _ID.match(target):
        body = {"repositoryId": target}
    elif match := _OWNER_REPO.match(target):
        body = {"owner": match.group(1), "repo": match.group(2)}
    else:
        raise UsageError(f"{target!r} is not a directory, an https URL, owner/repo or an id")
    if branch:
        body["branch"] = branch
    if force:
        body["force"] = True
    return body


def _emit(args: argparse.Namespace, reply: Reply, human: Callable[[Any], str]) -> None:
    print(json.dumps(reply.body, indent=2) if args.json else human(reply.body))


def _not_ready(reply: Reply) -> None:
    if reply.status == 202:
        wait = reply.body.get("estimatedTime", "?")
        raise ApiError(f"the repository is still indexing (about {wait} s left)", 202, reply.body)


def cmd_status(api: StrataApi, args: argparse.Namespace) -> int:
    _emit(args, api.get(repository_path(args.id, "/status")), status_text)
    return 0


def cmd_search(api: StrataApi, args: argparse.Namespace) -> int:
    reply = api.post("/search", {"repositoryId": args.id, "query": args.query, "k": args.k})
    _not_ready(reply)
    _emit(args, reply, hits_text)
    return 0


def cmd_ask(api: StrataApi, args: argparse.Namespace) -> int:
    body = {"repositoryId": args.id, "question": args.question}
    if args.conversation:
        body["conversationId"] = args.conversation
    reply = api.post("/chat/query", body)
    _not_ready(reply)
    _emit(args, reply, answer_text)
    return 0


def cmd_index(api: StrataApi, args: argparse.Namespace) -> int:
    started = time.monotonic()
    reply = api.post("/repositories/index", index_body(args.target, args.branch, args.force))
    rid = reply.body["repositoryId"]
    if args.no_wait:
        _emit(args, reply, lambda b: f"{rid}: {b['status']} ({b['message']})")
        return 0
    progress = None if args.json else Progress(sys.stderr, sys.stderr.isatty())
    status = wait_for_index(api, rid, progress, args.timeout)
    if args.json:
        print(json.dumps(status, indent=2))
    if status["status"] == "error":
        raise ApiError(f"indexing {rid} failed: {status.get('error') or 'unknown error'}")
    if not args.json:
        took = time.monotonic() - started
        print(f"{rid}: ready at {str(status.get('indexedSha'))[:12]} in {took:.1f} s")
        print("\n".join(stats_lines(status.get("stats") or {})))
    return 0


def wait_for_index(
    api: StrataApi, rid: str, progress: Progress | None, timeout: float | None
) -> dict[str, Any]:
    """Poll the status until ready or error, feeding the progress bar."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status: dict[str, Any] = api.get(repository_path(rid, "/status")).body
        finished = status.get("status") in ("ready", "error")
        if progress is not None:
            progress.update(status, final=finished)
        if finished:
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise ApiError(f"{rid} is still {status.get('status')} after {timeout:g} s")
        time.sleep(POLL_SECONDS)


def cmd_serve(api: StrataApi, args: argparse.Namespace) -> int:
    from chalicelib.local.serve import serve
    from chalicelib.local.stack import DEFAULT_WORKERS, StackOptions

    options = StackOptions(
        state_dir=Path(args.state_dir),
        port=args.port,
        aws_port=args.aws_port,
        visibility_timeout=args.visibility_timeout,
        workers={**DEFAULT_WORKERS, "parse": args.workers},
        durable=not args.no_durability,
    )
    return serve(options, demo=not args.no_demo, verbose=args.verbose, api_key=args.preset_key)


def build_parser(config: LocalConfig) -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--api", default=argparse.SUPPRESS, help=f"Strata API base URL ({config.api_url})"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the raw response"
    )
    # Accepted before or after the command: unset ones are filled in by main().
    parser = _Parser(prog="strata", description=DESCRIPTION, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the local stack (what `make run` does)")
    serve.add_argument("--port", type=int, default=config.port, help="API port (STRATA_PORT)")
    serve.add_argument(
        "--aws-port", type=int, default=config.aws_port, help="embedded AWS port (0: any free)"
    )
    serve.add_argument("--state-dir", default=config.state_dir, help="snapshot and git cache")
    serve.add_argument("--no-demo", action="store_true", help="do not index Strata on 1st start")
    serve.add_argument(
        "--visibility-timeout", type=int, default=30, metavar="S", help="queues' (infra: 900/300)"
    )
    serve.add_argument("--workers", type=int, default=2, help="parse worker threads")
    serve.add_argument(
        "--no-durability",
        action="store_true",
        help="save state only on a clean stop (acknowledged work is lost on a crash)",
    )
    serve.add_argument("--verbose", action="store_true", help="log requests and worker activity")
    serve.set_defaults(run=cmd_serve, preset_key=config.api_key)  # STRATA_API_KEY

    index = sub.add_parser("index", parents=[common], help="index a repository, wait, show stats")
    index.add_argument("target", metavar="PATH|URL|OWNER/REPO|ID")
    index.add_argument("--branch", help="the remote's default branch otherwise")
    index.add_argument("--force", action="store_true", help="rebuild even if up to date")
    index.add_argument("--no-wait", action="store_true", help="return once it is requested")
    index.add_argument("--timeout", type=float, metavar="S", help="give up waiting after S s")
    index.set_defaults(run=cmd_index)

    status = sub.add_parser("status", parents=[common], help="a repository's status")
    status.add_argument("id")
    status.set_defaults(run=cmd_status)

    search = sub.add_parser("search", parents=[common], help="search a repository")
    search.add_argument("id")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10, help="how many hits (10)")
    search.set_defaults(run=cmd_search)

    ask = sub.add_parser("ask", parents=[common], help="ask a question about a repository")
    ask.add_argument("id")
    ask.add_argument("question")
    ask.add_argument("--conversation", help="continue a conversation (its id)")
    ask.set_defaults(run=cmd_ask)
    add_key_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    config = LocalConfig.from_env()
    parser = build_parser(config)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    args.api = getattr(args, "api", config.api_url)
    args.json = getattr(args, "json", False)
    try:
        code: int = args.run(StrataApi(args.api, api_key=config.client_api_key()), args)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler, not at exit
    except BrokenPipeError:  # `strata search ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
    except UsageError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        if args.json and exc.body is not None:
            print(json.dumps(exc.body, indent=2))
        print(f"strata: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
