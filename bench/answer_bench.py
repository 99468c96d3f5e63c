"""Chat answers on a question set (bench/answers/questions.jsonl): do the files an answer
cites include the ones a correct answer must cite? For every answerer available: the
extractive one always, and a language model when one is configured in the environment
(`STRATA_ANSWERER=openai` with `STRATA_ANSWER_URL`, `_MODEL`, `_API_KEY`; or
`STRATA_ANSWERER=bedrock` with AWS credentials and `STRATA_ANSWER_MODEL`).

    .venv/bin/python bench/answer_bench.py [--names strata,flask] [--embedder static|minilm|none]
        [--repos-root /work/eval-repos] [--out bench/results/answer_bench.json]

How: one local stack (moto) indexes this repository at its git HEAD and the `../shared/eval`
repositories at their pinned heads (clones under `--repos-root`, see its README), waits for
their vectors, then asks every question once per answerer through the chat service (hybrid
retrieval, the answerer, citations verified against the blobs). Per question: the cited
files (the verified sources' paths), precision (cited files that are targets / cited files)
and recall (targets cited / targets). Reported per answerer, pooled and per repository:
macro precision over the questions that cited something, micro precision, macro recall,
how many answers cited at least one target, dropped citations, fallbacks, and latency
p50/p95 split into retrieval and answer (the model's share of it shown apart), warm (one
unscored question per repository and answerer loads the generation first). Nothing here
asserts; `--out` gets every record.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boto3
from _env import ROOT

from chalicelib import bootstrap
from chalicelib.adapters.extractive_answerer import ExtractiveAnswerer
from chalicelib.client.transport import exchange, repository_path
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.models import Repository
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.ports import ChatModel
from chalicelib.services.chat import ChatAnswer, ChatService, Question
from chalicelib.settings import Settings

HERE = ROOT / "bench" / "answers"
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "bench" / "results" / "answer_bench.json"
CALLER = Caller("bench", ADMIN_TENANT, Scope.ADMIN)
INDEX_TIMEOUT = 3600.0


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return out.stdout.decode().strip()


def repositories(repos_root: Path, names: set[str]) -> list[dict[str, str]]:
    """This repository at HEAD, and the eval repositories at their pinned heads."""
    found = [
        {"name": "strata", "path": str(ROOT), "sha": _git(ROOT, "rev-parse", "HEAD"),
         "branch": _git(ROOT, "branch", "--show-current") or "main"},
    ]  # fmt: skip
    for r in json.loads((EVAL / "repos.json").read_text())["repos"]:
        path = repos_root / r["name"]
        if (path / ".git").exists() or (path / "HEAD").exists():
            found.append({"name": r["name"], "path": str(path), "sha": r["head"],
                          "branch": r["branch"]})  # fmt: skip
        else:
            print(f"skipping {r['name']}: no clone at {path}", file=sys.stderr)
    return [r for r in found if not names or r["name"] in names]


def configured_model() -> ChatModel | None:
    """The model the environment names (None: extractive only). Bedrock is taken only when
    STRATA_ANSWERER says so: the settings' default would otherwise always pick it."""
    settings = Settings.from_env()
    if not os.environ.get("STRATA_ANSWERER") or settings.answerer == "extractive":
        return None
    session = boto3.session.Session(region_name=settings.region)

    def client(service: str, config: Any = None) -> Any:
        return session.client(service, config=config)  # the real service, not the moto stack

    return bootstrap.chat_model(settings, client)


def index(stack: LocalStack, key: str, rid: str, repo: dict[str, str], vectors: bool) -> float:
    started = time.perf_counter()
    registered = Repository(id=rid, remote=repo["path"], branch=repo["branch"])
    bootstrap.index_requests().request_at(registered, repo["sha"], source="api")
    deadline = time.monotonic() + INDEX_TIMEOUT
    while time.monotonic() < deadline:
        code, status = exchange(stack.api_url, "GET", repository_path(rid, "/status"), api_key=key)
        if code == 200 and status["status"] == "error":
            raise RuntimeError(f"indexing {rid} failed: {status.get('error')}")
        ready = code == 200 and status["status"] == "ready" and status["indexedSha"] == repo["sha"]
        if ready and (not vectors or status.get("vectors") != "embedding"):
            return time.perf_counter() - started
        time.sleep(0.2)
    raise TimeoutError(f"{rid} was not indexed at {repo['sha'][:12]}")


def score(answer: ChatAnswer, targets: list[str]) -> dict[str, Any]:
    cited = list(dict.fromkeys(s.path for s in answer.sources))
    hits = [p for p in cited if p in targets]
    return {
        "cited": cited,
        "hits": len(hits),
        "precision": len(hits) / len(cited) if cited else None,
        "recall": len({*hits}) / len(targets),
        "dropped": answer.dropped_citations,
        "fallback": answer.fallback,
        "answerer": answer.answerer,
        "retrieval_ms": round(1000 * answer.timings.retrieval, 2),
        "answer_ms": round(1000 * answer.timings.answer, 2),
        "model_ms": round(1000 * answer.timings.model, 2),
        "text": answer.text[:400],
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in records if r["precision"] is not None]
    cited = sum(len(r["cited"]) for r in records)
    return {
        "n": len(records),
        "precision": round(statistics.fmean(r["precision"] for r in answered), 3)
        if answered
        else 0.0,
        "precision_micro": round(sum(r["hits"] for r in records) / cited, 3) if cited else 0.0,
        "recall": round(statistics.fmean(r["recall"] for r in records), 3) if records else 0.0,
        "cited_a_target": sum(1 for r in records if r["hits"]),
        "no_source": len(records) - len(answered),
        "dropped_citations": sum(r["dropped"] for r in records),
        "fallbacks": sum(1 for r in records if r["fallback"]),
        "retrieval_ms_p50": _pct([r["retrieval_ms"] for r in records], 0.5),
        "retrieval_ms_p95": _pct([r["retrieval_ms"] for r in records], 0.95),
        "answer_ms_p50": _pct([r["answer_ms"] for r in records], 0.5),
        "answer_ms_p95": _pct([r["answer_ms"] for r in records], 0.95),
        "model_ms_p50": _pct([r["model_ms"] for r in records], 0.5),
        "model_ms_p95": _pct([r["model_ms"] for r in records], 0.95),
    }


def chat_service(model: ChatModel | None) -> ChatService:
    c = bootstrap.container()
    return ChatService(
        pointers=c.pointers,
        loader=c.loader,
        retriever=c.retriever,
        answerer=ExtractiveAnswerer(),
        conversations=c.conversations,
        clock=c.ports.clock,
        ttl_seconds=3600,
        caller=CALLER,
        model=model,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = [json.loads(line) for line in (HERE / "questions.jsonl").read_text().splitlines()]
    names = {n for n in args.names.split(",") if n}
    repos = repositories(Path(args.repos_root).resolve(), names)
    model = configured_model()
    labels = ["extractive"] + ([f"{model.name}:{model.model_id}"] if model else [])
    with tempfile.TemporaryDirectory(prefix="strata-answers-") as tmp:
        settings = Settings(
            resource_prefix="bench-answers",
            embedder=args.embedder,
            answerer="extractive",
            local_roots=(tmp, str(ROOT), str(Path(args.repos_root).resolve())),
            rate_per_second=0,
        )
        state = Path(tmp) / "state"
        options = StackOptions(state_dir=state, port=0, settings=settings, save_on_stop=False)
        with LocalStack(options) as stack:
            key = provide_admin_key(state).token
            services = {"extractive": chat_service(None)}
            if model is not None:
                services[labels[1]] = chat_service(model)
            indexed: dict[str, float] = {}
            records: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
            for repo in repos:
                rid = f"github:answers:{repo['name']}"
                print(f"indexing {repo['name']} at {repo['sha'][:12]}", file=sys.stderr)
                indexed[repo["name"]] = round(
                    index(stack, key, rid, repo, args.embedder != "none"), 1
                )
                for service in services.values():  # load the generation: timings are warm
                    service.ask(Question(rid, "where is the main entry point?"))
                for row in (r for r in rows if r["repo"] == repo["name"]):
                    for label, service in services.items():
                        answer = service.ask(Question(rid, row["question"]))
                        records[label].append({**row, **score(answer, row["targets"])})
    return {
        "embedder": args.embedder,
        "questions": sum(len(v) for v in records.values()) // len(labels),
        "index_s": indexed,
        "answerers": {
            label: {
                "pooled": summarize(recs),
                "by_repository": {
                    name: summarize([r for r in recs if r["repo"] == name]) for name in indexed
                },
            }
            for label, recs in records.items()
        },
        "records": records,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['questions']} questions, embedder {result['embedder']}")
    head = f"{'answerer':<28} {'repo':<10} {'n':>3} {'P':>6} {'P(mic)':>7} {'R':>6}"
    head += f" {'hit':>4} {'none':>4} {'drop':>4} {'fb':>3} {'retr p50/p95 ms':>16}"
    head += f" {'answer p50/p95 ms':>18} {'model p50 ms':>12}"
    print(head)
    for label, data in result["answerers"].items():
        rows = [("all", data["pooled"]), *data["by_repository"].items()]
        for repo, s in rows:
            print(
                f"{label:<28} {repo:<10} {s['n']:>3} {s['precision']:>6.3f}"
                f" {s['precision_micro']:>7.3f} {s['recall']:>6.3f} {s['cited_a_target']:>4}"
                f" {s['no_source']:>4} {s['dropped_citations']:>4} {s['fallbacks']:>3}"
                f" {s['retrieval_ms_p50']:>7.1f}/{s['retrieval_ms_p95']:<8.1f}"
                f" {s['answer_ms_p50']:>8.1f}/{s['answer_ms_p95']:<9.1f}"
                f" {s['model_ms_p50']:>12.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", default="", help="comma-separated repositories (all)")
    parser.add_argument("--embedder", default="static", help="static | minilm | onnx | none")
    parser.add_argument("--repos-root", default=str(ROOT.parent / "eval-repos"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    result = run(args)
    print_table(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
