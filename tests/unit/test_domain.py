"""Pure domain rules: ids, messages, planning, codecs, verification."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.domain.codecs import (
    decode_artifact,
    decode_batch,
    decode_manifest,
    decode_plan,
    encode_artifact,
    encode_batch,
    encode_manifest,
    encode_plan,
)
from chalicelib.domain.ids import (
    github_ref,
    ref_from_id,
    ref_from_url,
    storage_key,
    validate_branch,
    validate_repository_id,
)
from chalicelib.domain.messages import IndexRepository, ParseBatch, decode, encode
from chalicelib.domain.models import FileEntry, Manifest, Stats, TreeEntry
from chalicelib.domain.planning import batch_files, plan_tree
from chalicelib.domain.verification import git_blob_oid, line_count, span_is_valid
from chalicelib.errors import InvalidRequest, MalformedMessage
from chalicelib.parsers import parse_blob


class TestIds:
    def test_github_owner_repo(self) -> None:
        ref = github_ref("acme", "widgets.git")
        assert ref.id == "github:acme:widgets"
        assert ref.remote == "https://github.com/acme/widgets.git"

    def test_github_url_maps_to_github_id(self) -> None:
        assert ref_from_url("https://github.com/acme/widgets", allow_local=False).id == (
            "github:acme:widgets"
        )

    def test_other_https_remote_gets_a_git_id(self) -> None:
        hosts = ["github.com", "gitlab.com"]
        ref = ref_from_url("https://gitlab.com/group/sub/proj.git", allow_local=False, hosts=hosts)
        assert ref.id == "git:gitlab.com:group:sub:proj"
        assert ref_from_id(ref.id, hosts=hosts).remote == "https://gitlab.com/group/sub/proj"

    @pytest.mark.parametrize(
        "url",
        [
            "http://github.com/a/b",
            "https://user:pw@github.com/a/b",
            "https://github.com/a/b?x=1",
            "https://github.com/",
            "https://github.com/../../etc",
            "ssh://github.com/a/b",
            "",
        ],
    )
    def test_bad_urls_are_refused(self, url: str) -> None:
        with pytest.raises(InvalidRequest):
            ref_from_url(url, allow_local=False)

    def test_local_paths_need_permission(self, tmp_path: Path) -> None:
        (tmp_path / "repo" / ".git").mkdir(parents=True)
        path, roots = str(tmp_path / "repo"), [str(tmp_path)]
        with pytest.raises(InvalidRequest, match="not allowed"):
            ref_from_url(path, allow_local=False, local_roots=roots)
        ref = ref_from_url(path, allow_local=True, local_roots=roots)
        assert ref.is_local and ref.id.startswith("local:") and ref.remote == path
        with pytest.raises(InvalidRequest, match="absolute"):
            ref_from_url("file://relative/path", allow_local=True, local_roots=roots)

    @pytest.mark.parametrize(
        "rid",
        ["github:../x", "github:a", "github:a:b:c", "x:a:b", "github:a/b:c", "github:.a:b", 7, ""],
    )
    def test_hostile_ids_are_refused(self, rid: object) -> None:
        with pytest.raises(InvalidRequest):
            validate_repository_id(rid)

    def test_storage_key_is_path_safe(self) -> None:
        assert storage_key("github:acme:widgets") == "github/acme/widgets"

    @pytest.mark.parametrize("branch", ["../x", "-x", "a..b", "x.lock", "a b", 3])
    def test_bad_branches_are_refused(self, branch: object) -> None:
        with pytest.raises(InvalidRequest):
            validate_branch(branch)


class TestMessages:
    def test_round_trip(self) -> None:
        for m in (IndexRepository("github:a:b", force=True), ParseBatch("job", 3)):
            assert decode(encode(m)) == m

    @pytest.mark.parametrize(
        "body",
        [
            "not json",
            "[]",
            '{"type": "Nope"}',
            '{"type": "ParseBatch", "job_id": "j"}',
            '{"type": "ParseBatch", "job_id": "j", "batch": "1"}',
            '{"type": "ParseBatch", "job_id": "j", "batch": true}',
            '{"type": "ParseBatch", "job_id": "j", "batch": 1, "x": 1}',
        ],
    )
    def test_malformed_bodies_are_rejected(self, body: str) -> None:
        with pytest.raises(MalformedMessage):
            decode(body)


def _entry(path: str, oid: str, size: int = 10, mode: int = 0o100644) -> TreeEntry:
    return TreeEntry(path, oid, mode, size)


class TestPlanning:
    def test_skips_are_counted_by_reason(self) -> None:
        plan = plan_tree(
            [
                _entry("a.py", "1"),
                _entry("sub", "2", 0, 0o160000),
                _entry("link", "3", 5, 0o120000),
                _entry("vendor/x.go", "4"),
                _entry("big.txt", "5", 10_000),
            ],
            known={},
            max_file_bytes=1000,
            max_batch_files=10,
            max_batch_bytes=10**6,
        )
        assert [f.path for f in plan.files] == ["a.py"]
        assert plan.skipped == {"submodule": 1, "symlink": 1, "vendored": 1, "tooLarge": 1}

    def test_skips_unchanged_blobs_when_tree_is_identical(self) -> None:
        entries = [_entry("a.py", "1"), _entry("b.py", "2")]
        plan = plan_tree(
            entries,
            known={"a.py": "1", "b.py": "2"},
            max_file_bytes=100,
            max_batch_files=10,
            max_batch_bytes=1000,
        )
        assert plan.to_parse == () and plan.reused == 2 and plan.batches == ()

    def test_a_blob_shared_by_two_paths_is_parsed_once(self) -> None:
        plan = plan_tree(
            [_entry("a.py", "1"), _entry("copy/a.py", "1")],
            known={},
            max_file_bytes=100,
            max_batch_files=10,
            max_batch_bytes=1000,
        )
        assert len(plan.to_parse) == 1 and len(plan.files) == 2

    def test_batches_respect_count_and_bytes(self) -> None:
        plan = plan_tree(
            [_entry(f"f{i}.py", str(i), 40) for i in range(5)],
            known={},
            max_file_bytes=100,
            max_batch_files=10,
            max_batch_bytes=100,
        )
        assert [len(b) for b in plan.batches] == [2, 2, 1]
        assert [len(b) for b in batch_files(plan.to_parse, 3, 10**6)] == [3, 2]


class TestCodecs:
    def test_artifact_batch_plan_manifest_round_trip(self) -> None:
        artifact = parse_blob(git_blob_oid(b"x = 1\n"), "a.py", b"x = 1\n")
        assert decode_artifact(encode_artifact(artifact)) == artifact
        plan = plan_tree(
            [_entry("a.py", "1"), _entry("b.py", "2")],
            known={},
            max_file_bytes=100,
            max_batch_files=1,
            max_batch_bytes=1000,
        )
        assert decode_plan(encode_plan(plan)) == plan
        staged = decode_batch(encode_batch(plan.batches[0], {"1": b"\x00bytes"}))
        assert staged == [(plan.batches[0][0], b"\x00bytes")]
        manifest = Manifest(
            "github:a:b",
            "abc",
            3,
            "v",
            1.0,
            (FileEntry("a.py", "1", "python", 2),),
            Stats(total_files=1),
            {"lexical": "k"},
        )
        assert decode_manifest(encode_manifest(manifest)) == manifest

    @pytest.mark.parametrize("decoder", [decode_artifact, decode_batch, decode_plan])
    def test_corrupt_objects_raise_value_error(self, decoder: Callable[[bytes], object]) -> None:
        with pytest.raises(ValueError, match="corrupt"):
            decoder(b"garbage")


class TestVerification:
    def test_git_blob_oid_matches_git(self) -> None:
        # `printf 'hello\n' | git hash-object --stdin`
        assert git_blob_oid(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"

    def test_spans_must_be_in_range_and_text_must_match_the_blob(self) -> None:
        text = "a\nb\nc\n"
        oid = git_blob_oid(text.encode())
        assert line_count(text) == 3 and line_count("a\nb") == 2 and line_count("") == 0
        assert span_is_valid(text, oid, 1, 3)
        assert not span_is_valid(text, oid, 2, 4)
        assert not span_is_valid(text, oid, 0, 1)
        assert not span_is_valid(text + "tampered", oid, 1, 1)
        assert not span_is_valid(None, oid, 1, 1)


def test_artifact_symbols_and_references_round_trip() -> None:
    from chalicelib.domain.models import BlobArtifact, Reference, Symbol

    artifact = BlobArtifact(
        oid="abc",
        language="lean",
        parser_version="v",
        size=10,
        line_count=3,
        skipped=None,
        text="x",
        chunks=(),
        symbols=(Symbol("t", "Ns.t", "theorem", 1, 3, None, (1, 1), (2, 3), True),),
        references=(Reference("foo", "name", 2, "Ns.t", ("Ns", ""), "proof"),),
    )
    assert decode_artifact(encode_artifact(artifact)) == artifact
