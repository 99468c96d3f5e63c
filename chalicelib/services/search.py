"""Use case: ranked search over a repository's current generation (lexical BM25 for now)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.validation import reject_unknown_fields, required_text
from chalicelib.errors import InvalidRequest
from chalicelib.services.generations import GenerationLoader, PointerCache, serving

MAX_K = 100
MAX_QUERY = 1000
_FIELDS = {"repositoryId", "query", "k", "mode"}


def parse_search_request(body: Mapping[str, object]) -> tuple[str, str, int]:
    reject_unknown_fields(body, _FIELDS)
    rid = validate_repository_id(body.get("repositoryId"))
    query = required_text(body, "query", MAX_QUERY)
    k = body.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}")
    mode = body.get("mode", "lexical")
    if mode != "lexical":
        raise InvalidRequest("mode must be 'lexical' (other modes are not available yet)")
    return rid, query, k


class Searcher:
    def __init__(self, *, pointers: PointerCache, loader: GenerationLoader) -> None:
        self._pointers = pointers
        self._loader = loader

    def search(self, body: Mapping[str, object]) -> dict[str, object]:
        rid, query, k = parse_search_request(body)
        serve = serving(self._pointers, self._loader, rid)
        segment = serve.loaded.lexical
        hits = [
            {
                "path": h.path,
                "lines": [h.start_line, h.end_line],
                "score": round(h.score, 4),
                "snippet": segment.snippet(h, query),
                "language": h.language,
            }
            for h in segment.search(query, k)
        ]
        return {"repositoryId": rid, "query": query, "hits": hits, **serve.freshness()}
