"""Use case: an embed worker gives the chunks of one parsed batch their vectors.

Parse batch n of a job is followed by embed batch n (counted as batch `total + n` of the job,
so the vector publish waits for both; a large job is published lexically meanwhile). For each
live blob of the batch without a vector object for the configured model, the worker embeds
the chunks whose content hash is not already in the vector object of the blob the same path
held in the base generation, and writes the blob's object (`If-None-Match: *`). A redelivered
message finds the objects written and counts nothing twice; a deadline stop leaves what is
written and lets SQS redeliver the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from chalicelib import observability
from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_artifact, decode_manifest, decode_plan
from chalicelib.domain.messages import EmbedBatch
from chalicelib.domain.models import Job, JobState
from chalicelib.domain.planning import PlannedFile
from chalicelib.domain.vectors import (
    VectorBlock,
    chunk_texts,
    decode_vectors,
    encode_vectors,
    text_hash,
    to_float16,
)
from chalicelib.errors import DeadlineReached, MalformedMessage
from chalicelib.observability import Metric
from chalicelib.parsers import PARSER_VERSION
from chalicelib.ports import Embedder
from chalicelib.services.batches import finalize_if_last, live_job
from chalicelib.services.blob_reads import stored
from chalicelib.services.context import IndexConfig, IndexPorts, RemainingMillis, out_of_time

log = logging.getLogger(__name__)
EMBED_CALL_TEXTS = 32  # texts per model call: bounds memory and a Bedrock burst
BLOB_THREADS = 4  # blobs of a batch embedded at once
# Embed batches run while parsing goes on, while the lexical generation is published, and
# after it (ADR 11, revised).
EMBEDDING_STATES = (JobState.PARSING, JobState.FINALIZING, JobState.EMBEDDING)


class BatchEmbedder:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def embed(self, msg: EmbedBatch, remaining: RemainingMillis | None = None) -> None:
        embedder = self._p.embedder
        if embedder is None:
            return
        job = live_job(self._p, self._c, msg.job_id, EMBEDDING_STATES, msg.batch)
        if job is None:
            return
        plan = decode_plan(self._p.blobs.get(layout.job_plan_key(job.job_id)))
        if not 0 <= msg.batch < len(plan.batches):
            raise MalformedMessage(f"job {job.job_id} has no batch {msg.batch}")
        before = self._base_oids(job)

        def blob(f: PlannedFile) -> tuple[int, int]:
            if out_of_time(remaining, self._c.deadline_margin_ms):
                raise DeadlineReached("embed batch stopped before the deadline; SQS redelivers")
            return self._embed_blob(embedder, f, before.get(f.path))

        # A few blobs at once: one's S3 calls overlap another's model call.
        with ThreadPoolExecutor(BLOB_THREADS, thread_name_prefix="embed-blob") as pool:
            counts = list(pool.map(blob, plan.batches[msg.batch]))
        embedded = sum(new for new, _ in counts)
        reused = sum(kept for _, kept in counts)
        observability.count(Metric.CHUNKS_EMBEDDED, embedded)
        observability.count(Metric.CHUNK_VECTORS_REUSED, reused)
        log.info("batch %d: %d chunks embedded, %d vectors reused", msg.batch, embedded, reused)
        outstanding = self._p.jobs.complete_batch(
            job.job_id,
            len(plan.batches) + msg.batch,
            files=0,
            parsed=0,
            reused=0,
            embedded=embedded,
            vectors_reused=reused,
        )
        if outstanding is not None:  # not a redelivery: count the progress once
            files = len(plan.batches[msg.batch])
            self._p.repos.add_progress(job.repository_id, job.job_id, embedded=files)
            self._p.live.progressed(job.repository_id)
        finalize_if_last(self._p, job.job_id, outstanding, parse=False)

    def _base_oids(self, job: Job) -> Mapping[str, str]:
        if job.base_generation is None:
            return {}
        data = stored(self._p.blobs, layout.manifest_key(job.base_generation.key))
        if data is None:
            return {}
        return {f.path: f.oid for f in decode_manifest(data).files}

    def _embed_blob(
        self, embedder: Embedder, f: PlannedFile, before: str | None
    ) -> tuple[int, int]:
        """(chunks embedded, chunk vectors reused) for one blob; (0, 0) when it has its object."""
        key = layout.blob_vectors_key(embedder.model_id, PARSER_VERSION, f.oid, f.language)
        if self._p.blobs.exists(key):
            return 0, 0
        artifact_key = layout.blob_artifact_key(PARSER_VERSION, f.oid, f.language)
        artifact = decode_artifact(self._p.blobs.get(artifact_key))
        if artifact.skipped is not None:
            return 0, 0
        texts = chunk_texts(artifact)
        hashes = [text_hash(t) for t in texts]
        known = self._known(embedder.model_id, f, before)
        missing = [i for i, h in enumerate(hashes) if h not in known]
        fresh = _embed_all(embedder, [texts[i] for i in missing])
        matrix = np.zeros((len(texts), embedder.dimensions), dtype=np.float16)
        for row, i in enumerate(missing):
            matrix[i] = fresh[row]
        for i, h in enumerate(hashes):
            if h in known:
                matrix[i] = known[h]
        block = VectorBlock(embedder.model_id, matrix, tuple(hashes))
        self._p.blobs.put(key, encode_vectors(block), if_absent=True)
        return len(missing), len(texts) - len(missing)

    def _known(self, model: str, f: PlannedFile, before: str | None) -> dict[str, np.ndarray]:
        """Vectors by chunk hash of the blob this path held before, if it has them."""
        if before is None or before == f.oid:
            return {}
        key = layout.blob_vectors_key(model, PARSER_VERSION, before, f.language)
        data = stored(self._p.blobs, key)
        if data is None:
            return {}
        return decode_vectors(data).by_hash()


def _embed_all(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    parts = [
        to_float16(embedder.embed(texts[i : i + EMBED_CALL_TEXTS]))
        for i in range(0, len(texts), EMBED_CALL_TEXTS)
    ]
    if not parts:
        return np.zeros((0, embedder.dimensions), dtype=np.float16)
    return np.concatenate(parts)
