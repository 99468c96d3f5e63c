"""Byte formats of the objects Strata stores: blob artifacts, staging batches, plans,
manifests. Compressed JSON throughout; nothing here ever unpickles or executes input.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.domain.graph import CodeGraph, Edge, GraphFile, Node
from chalicelib.domain.models import (
    BlobArtifact,
    Chunk,
    FileEntry,
    FileRecord,
    Manifest,
    Reference,
    Stats,
    Symbol,
)
from chalicelib.domain.planning import Plan, PlannedFile


def _pack(obj: object) -> bytes:
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 6)


def _unpack(data: bytes, what: str) -> Any:
    try:
        return json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"corrupt {what}") from exc


def _span(value: Sequence[int] | None) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None


def _encode_symbols(symbols: Sequence[Symbol]) -> list[list[Any]]:
    return [
        [
            s.name,
            s.qualified_name,
            s.kind,
            s.start_line,
            s.end_line,
            s.container,
            s.statement,
            s.body,
            s.incomplete,
        ]
        for s in symbols
    ]


def _decode_symbols(rows: Sequence[Sequence[Any]]) -> tuple[Symbol, ...]:
    return tuple(
        Symbol(n, q, k, s, e, c, _span(st), _span(b), bool(inc))
        for n, q, k, s, e, c, st, b, inc in rows
    )


def _encode_references(refs: Sequence[Reference]) -> list[list[Any]]:
    return [[r.name, r.kind, r.line, r.source, r.scopes, r.role] for r in refs]


def _decode_references(rows: Sequence[Sequence[Any]]) -> tuple[Reference, ...]:
    return tuple(
        Reference(n, k, line, src, tuple(scopes), role) for n, k, line, src, scopes, role in rows
    )


def encode_file_table(records: Sequence[FileRecord]) -> bytes:
    """Every file's identity, skip reason and chunk count (symbols are in the shards)."""
    return _pack([[r.path, r.oid, r.language, r.size, r.skipped, r.chunks] for r in records])


def decode_file_table(data: bytes) -> dict[str, FileRecord]:
    """The file table as records without symbols or references."""
    rows = _unpack(data, "file table")
    try:
        records = [
            FileRecord(str(p), str(oid), str(lang), int(size), skipped, int(chunks))
            for p, oid, lang, size, skipped, chunks in rows
        ]
    except (TypeError, ValueError) as exc:
        raise ValueError("corrupt file table") from exc
    return {r.path: r for r in records}


def encode_graph_files(files: Sequence[GraphFile]) -> bytes:
    """A files-index shard: the symbols and references of some live files."""
    return _pack(
        [
            [f.path, f.language, _encode_symbols(f.symbols), _encode_references(f.references)]
            for f in files
        ]
    )


def decode_graph_files(data: bytes) -> list[GraphFile]:
    rows = _unpack(data, "files shard")
    try:
        return [
            GraphFile(str(p), str(lang), _decode_symbols(syms), _decode_references(refs))
            for p, lang, syms, refs in rows
        ]
    except (TypeError, ValueError) as exc:
        raise ValueError("corrupt files shard") from exc


def encode_artifact(a: BlobArtifact) -> bytes:
    chunks = [[c.start_line, c.end_line, c.kind, c.symbol, c.terms] for c in a.chunks]
    symbols = _encode_symbols(a.symbols)
    refs = _encode_references(a.references)
    return _pack(
        {
            "oid": a.oid,
            "language": a.language,
            "parser": a.parser_version,
            "size": a.size,
            "lines": a.line_count,
            "skipped": a.skipped,
            "text": a.text,
            "chunks": chunks,
            "symbols": symbols,
            "references": refs,
        }
    )


def decode_artifact(data: bytes) -> BlobArtifact:
    d = _unpack(data, "artifact")
    try:
        chunks = tuple(Chunk(s, e, k, sym, terms) for s, e, k, sym, terms in d["chunks"])
        symbols = _decode_symbols(d.get("symbols", []))
        refs = _decode_references(d.get("references", []))
        return BlobArtifact(
            oid=d["oid"],
            language=d["language"],
            parser_version=d["parser"],
            size=d["size"],
            line_count=d["lines"],
            skipped=d["skipped"],
            text=d["text"],
            chunks=chunks,
            symbols=symbols,
            references=refs,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt artifact") from exc


_HEADER = struct.Struct(">I")


def encode_batch(files: Sequence[PlannedFile], contents: Mapping[str, bytes]) -> bytes:
    """A staging object: the batch's file list and the raw bytes of each blob."""
    index, payload, offset = [], bytearray(), 0
    for f in files:
        data = contents[f.oid]
        index.append([f.path, f.oid, f.language, f.size, offset, len(data)])
        payload += data
        offset += len(data)
    header = json.dumps(index, separators=(",", ":")).encode()
    return zlib.compress(_HEADER.pack(len(header)) + header + bytes(payload), 1)


def decode_batch(data: bytes) -> list[tuple[PlannedFile, bytes]]:
    try:
        raw = zlib.decompress(data)
        (n,) = _HEADER.unpack_from(raw)
        index = json.loads(raw[4 : 4 + n])
    except (zlib.error, ValueError, struct.error) as exc:
        raise ValueError("corrupt staging batch") from exc
    body = memoryview(raw)[4 + n :]
    return [
        (PlannedFile(p, oid, lang, size), bytes(body[off : off + length]))
        for p, oid, lang, size, off, length in index
    ]


def encode_plan(plan: Plan) -> bytes:
    return _pack(
        {
            "files": [[f.path, f.oid, f.language, f.size] for f in plan.files],
            "skipped": dict(plan.skipped),
            "reused": plan.reused,
            "batches": [[[f.path, f.oid, f.language, f.size] for f in b] for b in plan.batches],
            "history": plan.history,
        }
    )


def decode_plan(data: bytes) -> Plan:
    d = _unpack(data, "plan")
    files = tuple(PlannedFile(*f) for f in d["files"])
    batches = tuple(tuple(PlannedFile(*f) for f in b) for b in d["batches"])
    to_parse = tuple(f for b in batches for f in b)
    history = d.get("history")
    if history is not None and not isinstance(history, str):
        raise ValueError("corrupt plan: history")
    return Plan(files, d["skipped"], to_parse, d["reused"], batches, history)


def encode_manifest(m: Manifest) -> bytes:
    return _pack(
        {
            "repositoryId": m.repository_id,
            "sha": m.sha,
            "fence": m.fence,
            "parser": m.parser_version,
            "createdAt": m.created_at,
            "files": [[f.path, f.oid, f.language, f.size] for f in m.files],
            "stats": m.stats.to_dict(),
            "segments": dict(m.segments),
            "tombstones": list(m.tombstones),
            "embeddingModel": m.embedding_model,
        }
    )


def decode_manifest(data: bytes) -> Manifest:
    d = _unpack(data, "manifest")
    return Manifest(
        repository_id=d["repositoryId"],
        sha=d["sha"],
        fence=d["fence"],
        parser_version=d["parser"],
        created_at=d["createdAt"],
        files=tuple(FileEntry(*f) for f in d["files"]),
        stats=Stats.from_dict(d["stats"]),
        segments=d["segments"],
        tombstones=tuple(d.get("tombstones", ())),
        embedding_model=d.get("embeddingModel"),
    )


def encode_graph(graph: CodeGraph) -> bytes:
    return _pack(
        {
            "nodes": [
                [n.name, n.kind, n.path, n.start_line, n.end_line, n.incomplete]
                for n in graph.nodes
            ],
            "edges": [[e.source, e.target, e.kind, e.role] for e in graph.edges],
            "external": {str(k): v for k, v in graph.external.items()},
        }
    )


def decode_graph(data: bytes) -> CodeGraph:
    d = _unpack(data, "graph")
    try:
        nodes = [
            Node(i, str(name), str(kind), str(path), int(start), int(end), bool(incomplete))
            for i, (name, kind, path, start, end, incomplete) in enumerate(d["nodes"])
        ]
        edges = [Edge(int(s), int(t), k, r) for s, t, k, r in d["edges"]]
        if any(not (0 <= e.source < len(nodes) and 0 <= e.target < len(nodes)) for e in edges):
            raise ValueError("edge out of range")
        external = {int(k): list(v) for k, v in d["external"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt graph") from exc
    return CodeGraph(nodes, edges, external)
