"""Use case: ranked search over a repository's current generation (lexical BM25 for now)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.ranking import boost_definitions
from chalicelib.domain.symbol_match import match_score
from chalicelib.domain.validation import reject_unknown_fields, required_text
from chalicelib.errors import InvalidRequest
from chalicelib.services.generations import (
    GenerationLoader,
    LoadedGeneration,
    PointerCache,
    serving,
)

MAX_K = 100
MAX_QUERY = 1000
MODES = ("lexical", "symbol")
RERANK_POOL = 50
_FIELDS = {"repositoryId", "query", "k", "mode"}


def parse_search_request(body: Mapping[str, object]) -> tuple[str, str, int, str]:
    reject_unknown_fields(body, _FIELDS)
    rid = validate_repository_id(body.get("repositoryId"))
    query = required_text(body, "query", MAX_QUERY)
    k = body.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}")
    mode = body.get("mode", "lexical")
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}")
    return rid, query, k, str(mode)


class Searcher:
    def __init__(self, *, pointers: PointerCache, loader: GenerationLoader) -> None:
        self._pointers = pointers
        self._loader = loader

    def search(self, body: Mapping[str, object]) -> dict[str, object]:
        rid, query, k, mode = parse_search_request(body)
        serve = serving(self._pointers, self._loader, rid)
        loaded = serve.loaded
        hits = (
            self._symbol_hits(loaded, query, k)
            if mode == "symbol"
            else self._lexical(loaded, query, k)
        )
        return {
            "repositoryId": rid,
            "query": query,
            "mode": mode,
            "hits": hits,
            **serve.freshness(),
        }

    def _lexical(self, loaded: LoadedGeneration, query: str, k: int) -> list[dict[str, object]]:
        segment = loaded.lexical
        hits = segment.search(query, max(k, RERANK_POOL))
        if loaded.graph is not None:
            hits = boost_definitions(query, hits, loaded.graph.by_path, k)
        return [
            {
                "path": h.path,
                "lines": [h.start_line, h.end_line],
                "score": round(h.score, 4),
                "snippet": segment.snippet(h, query),
                "language": h.language,
            }
            for h in hits[:k]
        ]

    def _symbol_hits(self, loaded: LoadedGeneration, query: str, k: int) -> list[dict[str, object]]:
        if loaded.graph is None:
            return []
        scored = [
            (match_score(query, n.name.rsplit(".", 1)[-1], n.name), n)
            for n in loaded.graph.symbols()
        ]
        ranked = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], len(x[1].name)))
        out = []
        for score, n in ranked[:k]:
            entry = loaded.files.get(n.path)
            snippet = loaded.lexical.lines(n.path, n.start_line, min(n.end_line, n.start_line + 7))
            out.append(
                {
                    "path": n.path,
                    "lines": [n.start_line, n.end_line],
                    "score": score,
                    "snippet": snippet or "",
                    "language": entry.language if entry else "text",
                    "symbol": n.name,
                    "kind": n.kind,
                }
            )
        return out
