"""Background jobs any domain can queue: the `jobs` table (models), enqueue / claim / lease
(queue) and the handler table and loop that run them (runner).

Workers poll for queued rows every couple of seconds and are also woken at once by a NOTIFY on
`JOBS_CHANNEL`; they claim one row at a time with `FOR UPDATE SKIP LOCKED`, so each job runs
once however many workers there are. Domains register a handler per job kind at start-up
(`register_handler`); the queue itself knows no domain.
"""

from service.jobs.models import JOB_STATUSES, Job
from service.jobs.queue import (
    JOBS_CHANNEL,
    RECOMPUTE_LAYER,
    claim_next,
    enqueue,
    get_job,
    job_json,
    open_jobs_params,
    reap_lost,
)
from service.jobs.runner import (
    HANDLERS,
    Handler,
    Heartbeat,
    JobRunner,
    Outcome,
    Progress,
    register_handler,
    run_job,
    run_pending_jobs,
)

__all__ = [
    "HANDLERS",
    "JOBS_CHANNEL",
    "JOB_STATUSES",
    "RECOMPUTE_LAYER",
    "Handler",
    "Heartbeat",
    "Job",
    "JobRunner",
    "Outcome",
    "Progress",
    "claim_next",
    "enqueue",
    "get_job",
    "job_json",
    "open_jobs_params",
    "reap_lost",
    "register_handler",
    "run_job",
    "run_pending_jobs",
]
