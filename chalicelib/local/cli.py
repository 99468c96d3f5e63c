"""`strata`: the command line for a Strata API (the local stack by default).

    strata serve [--port P] [--no-demo] [--no-durability]   run the local stack (`make run`)
    strata index PATH|URL|OWNER/REPO|ID [--branch B] [--force] [--follow [--ws URL]]
    strata status ID
    strata search ID QUERY [-k N] [--mode hybrid|lexical|semantic|symbol]
    strata ask ID QUESTION [--conversation C]
    strata check ID [--level syntax|build] [--path P ...] [--sha SHA]   exit 1 unless passed
    strata commit ID --branch B --base SHA -m MSG [--author "N <e>"] [--check syntax|build]
                  [--delete PATH ...] [--idempotency-key K] [FILE[=PATH] ...]
                                     commit local files (at PATH in the repository) on SHA
    strata keys create --tenant T --scope read|index|admin [--name N] | list | revoke ID
    strata mcp [--api-key KEY]       an MCP server on stdio over the API (chalicelib/mcp_server)
    strata events query SQL | replay --to TIME [--table T]   the events archive, read with
                                     this machine's AWS access (chalicelib/local/event_commands.py)

`--api URL` (or STRATA_API) points at another deployment; `--json` prints the raw response.
Requests carry the API key of STRATA_API_KEY, else the one `strata serve` saved in
`.strata/api-key` (STRATA_STATE_DIR), as `Authorization: Bearer`.
Errors print one line on stderr and exit non-zero (2 for a usage error). Every request goes
through `chalicelib.client`; `serve` imports the stack, and `mcp` the MCP SDK, when they run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chalicelib.api.models import IndexRequest, SearchMode, StatusResponse, WireModel
from chalicelib.client import (
    ClientError,
    NotATarget,
    StrataClient,
    Unauthorized,
    Unprocessable,
    Unreachable,
    deletion,
    file_change,
    index_target,
)
from chalicelib.local.config import LocalConfig
from chalicelib.local.event_commands import add_event_commands
from chalicelib.local.key_commands import add_key_commands
from chalicelib.local.render import (
    Progress,
    answer_text,
    check_text,
    commit_text,
    diagnostic_lines,
    hits_text,
    stats_lines,
    status_text,
)

POLL_SECONDS = 0.5
MODES: tuple[SearchMode, ...] = ("hybrid", "lexical", "semantic", "symbol")
DESCRIPTION = "Index git repositories and query them through a Strata API."


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line instead of usage + message, no exit
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def index_body(target: str, branch: str | None, force: bool) -> dict[str, Any]:
    """The POST /repositories/index body `strata index` sends for a directory, URL,
    owner/repo or repository id."""
    try:
        fields = index_target(target)
    except NotATarget as exc:
        raise UsageError(str(exc)) from None
    extra: dict[str, Any] = {"branch": branch} if branch else {}
    if force:
        extra["force"] = True
    return IndexRequest.model_validate({**fields, **extra}).dump()


def _emit(args: argparse.Namespace, answer: WireModel, human: Callable[[Any], str]) -> None:
    body = answer.dump()  # the JSON the API sent (models keep nulls, omit what was not sent)
    print(json.dumps(body, indent=2) if args.json else human(body))


def cmd_status(api: StrataClient, args: argparse.Namespace) -> int:
    _emit(args, api.status(args.id), status_text)
    return 0


def cmd_search(api: StrataClient, args: argparse.Namespace) -> int:
    _emit(args, api.search(args.query, repository_id=args.id, k=args.k, mode=args.mode), hits_text)
    return 0


def cmd_ask(api: StrataClient, args: argparse.Namespace) -> int:
    answer = api.ask(args.id, args.question, conversation_id=args.conversation)
    _emit(args, answer, answer_text)
    return 0


def cmd_index(api: StrataClient, args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        reply = api.index(args.target, branch=args.branch, force=args.force)
    except NotATarget as exc:
        raise UsageError(str(exc)) from None
    rid = reply.repository_id
    if args.no_wait:
        _emit(args, reply, lambda b: f"{rid}: {b['status']} ({b['message']})")
        return 0
    progress = None if args.json else Progress(sys.stderr, sys.stderr.isatty())
    if args.follow:
        follow(args, rid, progress)
    status = wait_for_index(api, rid, progress, args.timeout, vectors=args.vectors).dump()
    if args.json:
        print(json.dumps(status, indent=2))
    if status["status"] == "error":
        raise ClientError(f"indexing {rid} failed: {status.get('error') or 'unknown error'}")
    if not args.json:
        took = time.monotonic() - started
        embedded = status.get("vectors")
        vectors = "" if embedded in (None, "none") else f", vectors {embedded}"
        print(f"{rid}: ready at {str(status.get('indexedSha'))[:12]} in {took:.1f} s{vectors}")
        print("\n".join(stats_lines(status.get("stats") or {})))
    return 0


def cmd_check(api: StrataClient, args: argparse.Namespace) -> int:
    """Request a check, wait for it, print its diagnostics; 0 only when it passed."""
    accepted = api.request_check(args.id, level=args.level, sha=args.sha, paths=args.path)
    if args.no_wait:
        _emit(args, accepted, lambda b: f"{b['checkId']}: {b['status']}")
        return 0
    found = api.wait_for_check(
        args.id, accepted.check_id, timeout=args.timeout, poll_seconds=POLL_SECONDS
    )
    _emit(args, found, check_text)
    return 0 if found.status == "passed" else 1


def cmd_commit(api: StrataClient, args: argparse.Namespace) -> int:
    """Commit local files (and deletions) on a base commit; 1 with the diagnostics when the
    check refused them. A 409 (the branch moved) is an error naming the branch's head."""
    changes = [*(_file(spec) for spec in args.files), *(deletion(p) for p in args.delete or [])]
    if not changes:
        raise UsageError("name at least one FILE or --delete PATH")
    try:
        answer = api.commit(
            args.id,
            branch=args.branch,
            base_sha=args.base,
            message=args.message,
            author=_author(args.author) if args.author else _default_author(args),
            changes=changes,
            check=args.check,
            idempotency_key=args.idempotency_key,
        )
    except Unprocessable as exc:
        if args.json:
            print(json.dumps(exc.body, indent=2))
        else:
            print("\n".join([*diagnostic_lines(exc.diagnostics), f"refused: {exc.message}"]))
        return 1
    _emit(args, answer, commit_text)
    return 0


def _file(spec: str) -> dict[str, object]:
    """`FILE` (committed at the path as given, relative) or `FILE=PATH`."""
    local, sep, target = spec.partition("=")
    if not sep:
        if os.path.isabs(local):
            raise UsageError(f"{local} is absolute: give it as FILE=PATH (its repository path)")
        target = os.path.normpath(local).replace(os.sep, "/")
    try:
        data = Path(local).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {local}: {exc.strerror}") from None
    return file_change(target, data)


def _author(text: str) -> tuple[str, str]:
    name, sep, rest = text.partition("<")
    if not sep or not rest.endswith(">") or not name.strip():
        raise UsageError('--author must read "Name <email>"')
    return name.strip(), rest[:-1].strip()


def _default_author(args: argparse.Namespace) -> tuple[str, str]:
    author: tuple[str, str] | None = args.default_author
    if author is None:
        raise UsageError('give --author "Name <email>" (or set GIT_AUTHOR_NAME and _EMAIL)')
    return author


def follow(args: argparse.Namespace, rid: str, progress: Progress | None) -> None:
    """Wait over the WebSocket API (the status is read once it ended); say so and leave the
    waiting to polling when the socket cannot be used."""
    from chalicelib.local.follow import LiveUnavailable, follow_index

    try:
        follow_index(args.ws, args.key_of(), rid, progress, args.timeout)
    except LiveUnavailable as exc:
        print(f"strata: live status unavailable ({exc}); polling instead", file=sys.stderr)
    except TimeoutError:
        raise ClientError(f"gave up waiting for {rid} after {args.timeout} s") from None


def wait_for_index(
    api: StrataClient,
    rid: str,
    progress: Progress | None,
    timeout: float | None,
    *,
    vectors: bool = False,
) -> StatusResponse:
    """Poll the status until ready or error (with `vectors`, until they are embedded too),
    feeding the progress bar."""

    def show(status: StatusResponse, finished: bool) -> None:
        if progress is not None:
            progress.update(status.dump(), final=finished)

    return api.wait_until_indexed(
        rid, timeout=timeout, poll_seconds=POLL_SECONDS, on_status=show, vectors=vectors
    )


def cmd_mcp(api: StrataClient, args: argparse.Namespace) -> int:
    from chalicelib.mcp_server import serve_stdio

    if args.api_key:  # the flag beats STRATA_API_KEY and the saved key
        api = StrataClient(api.base_url, api_key=args.api_key)
    serve_stdio(api)
    return 0


def cmd_serve(api: StrataClient, args: argparse.Namespace) -> int:
    from chalicelib.local.serve import serve
    from chalicelib.local.stack import DEFAULT_WORKERS, StackOptions

    options = StackOptions(
        state_dir=Path(args.state_dir),
        port=args.port,
        aws_port=args.aws_port,
        ws_port=args.ws_port,
        visibility_timeout=args.visibility_timeout,
        workers={**DEFAULT_WORKERS, "parse": args.workers},
        durable=not args.no_durability,
    )
    return serve(options, demo=not args.no_demo, verbose=args.verbose, api_key=args.preset_key)


def add_check_command(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser("check", parents=[common], help="check a repository's files")
    check.add_argument("id")
    check.add_argument("--level", choices=("syntax", "build"), default="syntax")
    check.add_argument(
        "--path", action="append", help="a file or directory to check (repeatable; all)"
    )
    check.add_argument("--sha", help="the commit (the indexed one otherwise)")
    check.add_argument("--no-wait", action="store_true", help="return once it is queued")
    check.add_argument("--timeout", type=float, metavar="S", help="give up waiting after S s")
    check.set_defaults(run=cmd_check)


def add_commit_command(sub: Any, common: argparse.ArgumentParser, config: LocalConfig) -> None:
    commit = sub.add_parser(
        "commit", parents=[common], help="commit files to a branch if it is still at --base"
    )
    commit.add_argument("id")
    commit.add_argument("files", nargs="*", metavar="FILE[=PATH]", help="a file to commit")
    commit.add_argument("--branch", required=True)
    commit.add_argument("--base", required=True, metavar="SHA", help="the commit to build on")
    commit.add_argument("-m", "--message", required=True)
    commit.add_argument("--author", help='"Name <email>" (GIT_AUTHOR_NAME/_EMAIL otherwise)')
    commit.add_argument("--check", choices=("syntax", "build"), help="check the files first")
    commit.add_argument("--delete", action="append", metavar="PATH", help="delete (repeatable)")
    commit.add_argument(
        "--idempotency-key", metavar="K", help="send a retry with the key of the first try"
    )
    commit.set_defaults(run=cmd_commit, default_author=config.author)


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
    serve.add_argument(
        "--ws-port", type=int, default=config.ws_port, help="WebSocket API port (STRATA_WS_PORT)"
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
    index.add_argument(
        "--vectors", action="store_true", help="wait for the embeddings too, not just search"
    )
    index.add_argument(
        "--follow",
        action="store_true",
        help="wait over the WebSocket API (live progress), polling only if it cannot be used",
    )
    index.add_argument("--ws", default=config.ws_url, help=f"WebSocket API URL ({config.ws_url})")
    index.set_defaults(run=cmd_index, key_of=config.client_api_key)

    status = sub.add_parser("status", parents=[common], help="a repository's status")
    status.add_argument("id")
    status.set_defaults(run=cmd_status)

    search = sub.add_parser("search", parents=[common], help="search a repository")
    search.add_argument("id")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10, help="how many hits (10)")
    search.add_argument("--mode", choices=MODES, default="hybrid", help="ranking (hybrid)")
    search.set_defaults(run=cmd_search)

    ask = sub.add_parser("ask", parents=[common], help="ask a question about a repository")
    ask.add_argument("id")
    ask.add_argument("question")
    ask.add_argument("--conversation", help="continue a conversation (its id)")
    ask.set_defaults(run=cmd_ask)
    add_check_command(sub, common)

    add_commit_command(sub, common, config)
    add_key_commands(sub, common)
    add_event_commands(sub, common)

    mcp = sub.add_parser("mcp", help="serve MCP on stdio over this API (stdout is MCP's)")
    mcp.add_argument(
        "--api", default=argparse.SUPPRESS, help=f"Strata API base URL ({config.api_url})"
    )
    mcp.add_argument("--api-key", help="the key to send (STRATA_API_KEY or the saved one)")
    mcp.set_defaults(run=cmd_mcp)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; `strata commit`'s FILEs may come after its options too (argparse
    gives a list positional what precedes the first option only)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        files = getattr(args, "files", None)
        if files is None or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.files = [*files, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    config = LocalConfig.from_env()
    parser = build_parser(config)
    try:
        args = parse(parser, argv)
    except UsageError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    args.api = getattr(args, "api", config.api_url)
    args.json = getattr(args, "json", False)
    try:
        code: int = args.run(StrataClient(args.api, api_key=config.client_api_key()), args)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler, not at exit
    except BrokenPipeError:  # `strata search ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
    except UsageError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        if args.json and exc.body is not None:
            print(json.dumps(exc.body, indent=2))
        print(f"strata: {exc.message}{_hint(exc, config)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    return code


def _hint(exc: ClientError, config: LocalConfig) -> str:
    """What to do about an error the CLI can explain."""
    if isinstance(exc, Unreachable):
        return "; is `strata serve` running?"
    if not isinstance(exc, Unauthorized):
        return ""
    if not config.client_api_key():
        return "; set STRATA_API_KEY, or run `strata serve` here once to make .strata/api-key"
    return "; check STRATA_API_KEY (or .strata/api-key)"


if __name__ == "__main__":
    sys.exit(main())
