"""Pure pieces of retrieval: file BM25 over base + delta, vector objects and their assembly."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.domain.file_ranking import FileBM25, LiveFiles
from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.models import Chunk
from chalicelib.domain.tokens import term_counts
from chalicelib.domain.vectors import (
    SegmentChunks,
    VectorBlock,
    assemble,
    decode_vectors,
    encode_vectors,
    text_hash,
    to_float16,
)


def seg_file(path: str, *chunks: str, oid: str = "") -> SegmentFile:
    out, line = [], 1
    for text in chunks:
        n = text.count("\n") + 1
        out.append(Chunk(line, line + n - 1, "block", None, term_counts(text)))
        line += n
    return SegmentFile(path, oid or f"oid-{path}", "python", "\n".join(chunks), tuple(out))


A = seg_file("a.py", "parse config file", "load json data")
B = seg_file("b.py", "render template html")
B2 = seg_file("b.py", "render the config template", oid="oid-b2")
C = seg_file("c.py", "config config config")


def test_file_bm25_over_base_and_delta_equals_a_rebuild() -> None:
    base = LexicalSegment.build([A, B, C])
    delta = LexicalSegment.build([B2])
    view = FileBM25(LiveFiles(base, delta, {"b.py", "c.py"}))
    rebuilt = FileBM25(LiveFiles(LexicalSegment.build([A, B2]), None, set()))
    live = LiveFiles(base, delta, {"b.py", "c.py"})
    assert live.paths == ("a.py", "b.py")
    assert np.array_equal(view.scores("config template"), rebuilt.scores("config template"))
    assert view.scores("config")[0] > 0 and view.scores("nothing").tolist() == [0.0, 0.0]


def test_file_bm25_counts_every_chunk_of_a_file() -> None:
    scores = FileBM25(LiveFiles(LexicalSegment.build([A, B]), None, set())).scores("json config")
    assert scores[0] > 0 and scores[1] == 0  # both terms are in a.py, in different chunks


def test_file_max_takes_each_files_best_chunk() -> None:
    base = LexicalSegment.build([A, B])
    live = LiveFiles(base, None, set())
    best = live.file_max([np.array([0.1, 0.7, 0.3]), np.zeros(0)])
    assert best.tolist() == [0.7, 0.3]


def test_vector_objects_round_trip_and_reject_garbage() -> None:
    matrix = to_float16(np.eye(3, 4, dtype=np.float32))
    block = VectorBlock("model-x", matrix, ("h1", "h2", "h3"))
    back = decode_vectors(encode_vectors(block))
    assert back.model == "model-x" and back.hashes == block.hashes
    assert np.array_equal(back.matrix, matrix)
    assert back.by_hash()["h2"].tolist() == matrix[1].tolist()
    with pytest.raises(ValueError, match="not a vector object"):
        decode_vectors(b"JUNKJUNK")
    with pytest.raises(ValueError):
        decode_vectors(encode_vectors(block)[:-3])
    assert text_hash("a") == text_hash("a") != text_hash("b")


def test_assemble_copies_rows_by_path_and_blob_and_asks_for_the_rest() -> None:
    old = LexicalSegment.build([A, B])
    old_rows = to_float16(np.arange(12, dtype=np.float32).reshape(3, 4) / 12)
    new = LexicalSegment.build([A, B2])
    target = SegmentChunks(new.paths, new.oids, new.chunk_table)
    source = (SegmentChunks(old.paths, old.oids, old.chunk_table), VectorBlock("m", old_rows))
    block, missing = assemble(target, [source], {}, model="m", dimensions=4)
    assert missing == [1]  # b.py changed blob: its rows are not in the old segment
    assert np.array_equal(block.matrix[:2], old_rows[:2])
    b2 = VectorBlock("m", to_float16(np.ones((1, 4), dtype=np.float32)))
    block, missing = assemble(target, [source], {1: b2}, model="m", dimensions=4)
    assert missing == [] and block.matrix[2].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_file_names_score_the_stems_a_question_shares_with_a_file_name() -> None:
    from chalicelib.domain.file_ranking import FileNames

    paths = ["src/Cookie/FileCookieJar.php", "src/Client.php", "src/cookies.md", "lib/logger.ts"]
    names = FileNames(paths)
    scores = names.scores("how are cookies persisted to a file?")
    assert scores[0] > scores[2] > 0 and scores[1] == scores[3] == 0  # two stems beat one
    assert names.scores("the logger that prints warnings")[3] > 0
    assert not names.scores("src php").any()  # directories and extensions are not the name


def test_file_symbols_find_lean_names_by_their_last_parts_and_dotted_names() -> None:
    from chalicelib.domain.file_ranking import FileSymbols, dotted_keys, name_keys

    assert name_keys("Nat.Prime.two_le'") == ("two_le", "prime.two_le")
    assert name_keys("«weird name»") == ("weird name",)
    assert name_keys("isOpen!") == ("isopen",)
    assert dotted_keys("correct `Buthe2.theorem_2a` and Phi_star.poles") == [
        "buthe2.theorem_2a",
        "phi_star.poles",
    ]
    definitions = {
        0: ["WeakPNT_character'", "Phi_star.poles"],
        1: ["Other.poles"],
        2: ["Third.poles"],
        3: ["WeakPNT"],
    }
    symbols = FileSymbols(definitions, files=5)
    # A Lean name ending in a prime is found by the query's word, which cannot hold the prime.
    scores = symbols.scores("Prove WeakPNT_character' using WeakPNT")
    assert scores[0] > 0 and scores[3] > 0 and scores[4] == 0
    # The dotted name picks the `poles` of its namespace out of three.
    poles = symbols.scores("prove Phi_star.poles")
    assert poles[0] > poles[1] == poles[2] > 0
    assert not symbols.scores("nothing declared here").any()


def test_described_definitions_find_a_name_the_question_describes_in_words() -> None:
    from chalicelib.domain.file_ranking import DescribedDefinitions

    definitions = {
        0: ["com.google.gson.internal.LazilyParsedNumber", "LazilyParsedNumber.intValue"],
        1: ["NumberTypeAdapter", "JsonReader.peek"],
        2: ["parse"],  # one stem: never described, only named (FileSymbols)
        3: ["StringForm", "LazyLoader"],
    }
    described = DescribedDefinitions(definitions, files=5)
    scores = described.scores("a number that keeps its string form and is parsed lazily")
    # The question has all three stems of LazilyParsedNumber and both of StringForm (three
    # matched words outscore two); of NumberTypeAdapter it has one, which is a mention.
    assert scores[0] > scores[3] > 0
    assert scores[1] == scores[2] == scores[4] == 0
    # One shared word is a mention, not a description.
    assert not described.scores("the number").any()
    assert not DescribedDefinitions({}, files=3).scores("anything at all").any()
