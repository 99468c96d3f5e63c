"""Use case: a parse worker turns one staged batch into per-blob artifacts.

Artifacts are keyed by content (parser version, blob oid, language), so a blob parsed once
is never parsed again, by any job of any repository. Completing a batch is counted once
per batch number, so a redelivered message does no harm.
"""

from __future__ import annotations

import logging

from chalicelib import observability
from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_batch, encode_artifact
from chalicelib.domain.messages import EmbedBatch, ParseBatch
from chalicelib.domain.models import JobState
from chalicelib.errors import NotFound
from chalicelib.observability import Metric
from chalicelib.parsers import PARSER_VERSION, parse_blob
from chalicelib.services.batches import finalize_if_last, live_job
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.job_endings import fail_job

log = logging.getLogger(__name__)


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
        parsed = reused = 0
        for planned, data in staged:
            key = layout.blob_artifact_key(PARSER_VERSION, planned.oid, planned.language)
            if self._p.blobs.exists(key):
                reused += 1
                continue
            artifact = parse_blob(planned.oid, planned.path, data)
            self._p.blobs.put(key, encode_artifact(artifact), if_absent=True)
            parsed += 1
        observability.count(Metric.BLOBS_PARSED, parsed)
        observability.count(Metric.BLOBS_REUSED, reused)
        log.info("batch %d: %d blobs parsed, %d reused", msg.batch, parsed, reused)
        outstanding = self._p.jobs.complete_batch(
            job.job_id, msg.batch, files=len(staged), parsed=parsed, reused=reused
        )
        if outstanding is not None:  # not a redelivery: count the progress once
            self._p.repos.add_progress(job.repository_id, job.job_id, parsed=len(staged))
        if self._p.embedder is not None:  # also on a redelivery: a duplicate is harmless
            self._p.queue.send(EmbedBatch(job_id=job.job_id, batch=msg.batch))
        finalize_if_last(self._p, job.job_id, outstanding)
