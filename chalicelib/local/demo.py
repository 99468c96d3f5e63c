"""One-shot demonstration on the embedded AWS: index a repository, then search and ask.

    python -m chalicelib.local.demo [PATH] [QUESTION]

PATH defaults to the Strata checkout itself. Requests go through the Chalice routes,
indexing through real SQS queues on moto's server and the same worker handlers Lambda runs.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chalice.test import Client

from chalicelib import bootstrap, observability
from chalicelib.local.embedded import embedded_aws, worker_pump
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _post(client: Client, path: str, body: dict[str, Any], key: str) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    resp = client.http.post(path, headers=headers, body=json.dumps(body))
    return resp.status_code, resp.json_body


def main(argv: list[str]) -> int:
    path = Path(argv[0]).resolve() if argv else ROOT
    question = argv[1] if len(argv) > 1 else "how are generations published with a fence?"
    observability.configure_console(logging.WARNING)  # the demo's own lines are its output
    with tempfile.TemporaryDirectory(prefix="strata-demo-") as tmp:
        settings = Settings(
            resource_prefix="strata-local",
            allow_local_paths=True,
            local_roots=(str(path),),  # the one repository this demo indexes
            embedder="onnx",
            answerer="extractive",  # no model: the demo runs offline
            git_cache_dir=str(Path(tmp) / "git-cache"),
        )
        with embedded_aws(settings) as aws:
            from app import app

            print(f"embedded AWS at {aws.settings.endpoint_url}; indexing {path}")
            pump = worker_pump(app, aws)
            key = bootstrap.key_admin().create_admin(name="demo", by="local")
            auth = {"Authorization": f"Bearer {key}"}
            with Client(app) as client:
                started = time.perf_counter()
                code, body = _post(client, "/repositories/index", {"url": str(path)}, key)
                if code != 200:
                    print(f"index request refused ({code}): {body['error']['message']}")
                    return 1
                rid = body["repositoryId"]
                pump.drain()
                status = client.http.get(f"/repositories/{rid}/status", headers=auth).json_body
                took = time.perf_counter() - started
                print(f"{rid}: {status['status']} at {status['indexedSha']} in {took:.1f}s")
                print(json.dumps(status["stats"], indent=2))
                _, found = _post(
                    client, "/search", {"repositoryId": rid, "query": question, "k": 5}, key
                )
                print(f"\nsearch: {question}")
                for hit in found.get("hits", []):
                    print(f"  {hit['path']}:{hit['lines'][0]}-{hit['lines'][1]}  {hit['score']}")
                _, answer = _post(
                    client, "/chat/query", {"repositoryId": rid, "question": question}, key
                )
                print(f"\nchat: {answer.get('response', answer)}")
                print("sources:", json.dumps(answer.get("sources", [])))
    return 0 if status["status"] == "ready" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
