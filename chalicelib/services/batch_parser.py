"""Use case: a parse worker turns one staged batch into per-blob artifacts.

Artifacts are keyed by content (parser version, blob oid, language), so a blob parsed once
is never parsed again, by any job of any repository. Completing a batch is counted once
per batch number, so a redelivered message does no harm.

The batch's artifacts are also written as one bundle (domain/bundles.py), last: a batch whose
bundle exists is done (one HEAD instead of one per blob), and the generation builder reads
the bundle instead of each artifact. Per blob, one GET finds an artifact already made (which
the bundle needs anyway); the blobs' S3 calls run in a few threads.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from chalicelib import observability
from chalicelib.domain import layout
from chalicelib.domain.bundles import encode_bundle
from chalicelib.domain.codecs import decode_batch, encode_artifact
from chalicelib.domain.messages import EmbedBatch, ParseBatch
from chalicelib.domain.models import JobState
from chalicelib.domain.planning import PlannedFile
from chalicelib.errors import NotFound
from chalicelib.observability import Metric
from chalicelib.parsers import PARSER_VERSION, parse_blob
from chalicelib.services.batches import bundle_key, finalize_if_last, live_job
from chalicelib.services.blob_reads import stored
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.job_endings import fail_job

log = logging.getLogger(__name__)

_IO_THREADS = 8  # S3 calls in flight per batch


class BatchParser:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def parse(self, msg: ParseBatch) -> None:
        states = (JobState.PARSING, JobState.FINALIZING)
        job = live_job(self._p, self._c, msg.job_id, states, msg.batch)
        if job is None:
            return
        try:
            staged = decode_batch(self._p.blobs.get(layout.job_batch_key(job.job_id, msg.batch)))
        except NotFound:
            # Already parsed and cleaned up by a finished job: nothing left to do.
            staged = []
        except ValueError:
            why = "a staged batch is corrupt"
            fail_job(self._p, job.repository_id, job.job_id, job.lease, why, sha=job.sha)
            return
        parsed, reused = self._artifacts(staged)
        observability.count(Metric.BLOBS_PARSED, parsed)
        observability.count(Metric.BLOBS_REUSED, reused)
        log.info("batch %d: %d blobs parsed, %d reused", msg.batch, parsed, reused)
        outstanding = self._p.jobs.complete_batch(
            job.job_id, msg.batch, files=len(staged), parsed=parsed, reused=reused
        )
        if outstanding is not None:  # not a redelivery: count the progress once
            self._p.repos.add_progress(job.repository_id, job.job_id, parsed=len(staged))
            self._p.live.progressed(job.repository_id)
        if self._p.embedder is not None:  # also on a redelivery: a duplicate is harmless
            self._p.queue.send(EmbedBatch(job_id=job.job_id, batch=msg.batch))
        finalize_if_last(self._p, job.job_id, outstanding)

    def _artifacts(self, staged: list[tuple[PlannedFile, bytes]]) -> tuple[int, int]:
        """Make the batch's artifacts and its bundle; (blobs parsed, blobs reused)."""
        if not staged:
            return 0, 0
        bundle = bundle_key(f for f, _ in staged)
        if self._p.blobs.exists(bundle):
            return 0, len(staged)
        unique = list({(f.oid, f.language): (f, data) for f, data in staged}.values())
        with ThreadPoolExecutor(min(_IO_THREADS, len(unique))) as pool:
            made = list(pool.map(lambda item: self._artifact(*item), unique))
        encoded = {
            (f.oid, f.language): data for (f, _), (data, _) in zip(unique, made, strict=True)
        }
        self._p.blobs.put(bundle, encode_bundle(encoded), if_absent=True)
        parsed = sum(1 for _, fresh in made if fresh)
        return parsed, len(staged) - parsed

    def _artifact(self, planned: PlannedFile, data: bytes) -> tuple[bytes, bool]:
        """The blob's encoded artifact, and whether it was parsed now (else it existed)."""
        key = layout.blob_artifact_key(PARSER_VERSION, planned.oid, planned.language)
        existing = stored(self._p.blobs, key)
        if existing is not None:
            return existing, False
        encoded = encode_artifact(parse_blob(planned.oid, planned.path, data))
        self._p.blobs.put(key, encoded, if_absent=True)
        return encoded, True
