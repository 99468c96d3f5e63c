"""Reading a model's reply and mapping its citations to lines it was shown (ADR 20).

The protocol asks for one JSON object, `{"answer": str, "citations": [{"passage": "P1",
"lines": [12, 18]}]}`. Models wrap JSON in code fences or add a sentence around it, so the
first JSON object in the reply is taken; a reply with no object holding a non-empty
`answer` is unparseable (the caller then falls back to the extractive answer).

A citation is kept only when it names a passage that was shown (by id; by path alone when
exactly one shown passage has that path), agrees with that passage's path when it names
one too, and its lines lie inside the lines shown. Anything else (an unknown id, a file
that was not shown or does not exist, lines outside the passage or past the end of the
file) is dropped and counted, never repaired. The spans kept are then checked against the
blob at the indexed commit by the caller (domain/verification.py).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.answers import Citation, Grounding, ModelReply, Passage, Prompt

MAX_CITATIONS = 50  # past this, entries are counted as dropped unread


def parse_reply(text: str) -> ModelReply | None:
    """The reply as the protocol asks for it, or None when it is not that."""
    doc = _first_object(text)
    if doc is None:
        return None
    answer = doc.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        return None
    raw = doc.get("citations", [])
    if not isinstance(raw, list):
        raw = []
    citations: list[Citation] = []
    unreadable = max(0, len(raw) - MAX_CITATIONS)
    for entry in raw[:MAX_CITATIONS]:
        citation = _citation(entry)
        if citation is None:
            unreadable += 1
        else:
            citations.append(citation)
    return ModelReply(answer.strip(), tuple(citations), unreadable)


def ground(reply: ModelReply, prompt: Prompt) -> Grounding:
    """The cited spans of the passages shown, first cited first, each once."""
    spans: list[Passage] = []
    dropped = reply.unreadable
    for citation in reply.citations:
        span = _span(citation, prompt)
        if span is None:
            dropped += 1
        elif span not in spans:
            spans.append(span)
    return Grounding(tuple(spans), dropped)


def _span(c: Citation, prompt: Prompt) -> Passage | None:
    shown = prompt.passage(c.passage) if c.passage else None
    if shown is None and c.passage == "" and c.path:
        same_path = [p for p in prompt.passages if p.path == c.path]
        shown = same_path[0] if len(same_path) == 1 else None
    if shown is None or (c.path and c.path != shown.path):
        return None
    if not shown.start_line <= c.start_line <= c.end_line <= shown.end_line:
        return None
    lines = shown.text.split("\n")
    first = c.start_line - shown.start_line
    text = "\n".join(lines[first : first + c.end_line - c.start_line + 1])
    return Passage(shown.path, c.start_line, c.end_line, text, shown.score)


def _citation(entry: Any) -> Citation | None:
    if not isinstance(entry, dict):
        return None
    passage = entry.get("passage", entry.get("id", ""))
    if isinstance(passage, int) and not isinstance(passage, bool):
        passage = f"P{passage}"
    path = entry.get("path")
    lines = _lines(entry)
    if not isinstance(passage, str) or lines is None:
        return None
    if not passage and not isinstance(path, str):
        return None
    return Citation(passage, lines[0], lines[1], path if isinstance(path, str) else None)


def _lines(entry: dict[str, Any]) -> tuple[int, int] | None:
    raw = entry.get("lines")
    if raw is None:
        raw = [entry.get("start"), entry.get("end")]
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw, raw]
    if not isinstance(raw, list) or len(raw) != 2:
        return None
    start, end = raw
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end)):
        return None
    return (start, end)


def _first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (inside code fences or prose around it)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            doc, _ = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(doc, dict) and "answer" in doc:
            return doc
        start = text.find("{", start + 1)
    return None
