"""Batch API jobs: the ``batch_jobs`` rows the gateway keeps for every job it relays (and, as
``kind`` ``response``, every background Responses API response), and the ``gateway_files`` rows
saying which project owns each file uploaded through it.

The gateway registers a job when its creation is relayed, answers only the creating
project's requests about it, and a poller follows it until it ends (state here, so it
survives restarts); a per-job lease lets several gateway processes poll safely. The CLI and
the query layer read the same rows.
"""

from collector.batches._files import file_owner, owned_files, register_file
from collector.batches._store import (
    BATCH,
    DELETED,
    NOT_FOUND,
    OPEN_STATUSES,
    RESPONSE,
    RESPONSE_OPEN,
    RESPONSE_TERMINAL,
    TERMINAL_STATUSES,
    JobRef,
    back_off,
    claim_open,
    close_response,
    ended_at,
    mark_deleted,
    mark_recorded,
    owned_ids,
    owner_of,
    register,
    register_response,
    release,
    response_job,
    update_status,
)

__all__ = [
    "BATCH",
    "DELETED",
    "NOT_FOUND",
    "OPEN_STATUSES",
    "RESPONSE",
    "RESPONSE_OPEN",
    "RESPONSE_TERMINAL",
    "TERMINAL_STATUSES",
    "JobRef",
    "back_off",
    "claim_open",
    "close_response",
    "ended_at",
    "file_owner",
    "mark_deleted",
    "mark_recorded",
    "owned_files",
    "owned_ids",
    "owner_of",
    "register",
    "register_file",
    "register_response",
    "release",
    "response_job",
    "update_status",
]
