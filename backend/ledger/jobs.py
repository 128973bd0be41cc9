"""Runs of batch jobs split into county chunks: resumable, shareable, each chunk done once.

A run is created (or an unfinished one resumed) for (job, period); it has one chunk per
county. Each chunk is claimed, worked and marked done in one transaction, so a crash
leaves every chunk either done or untouched. On PostgreSQL several processes share a
run (``FOR UPDATE SKIP LOCKED``) and an advisory lock per (job, period, county) keeps
two *different* runs of the same period from working one county at the same time.

For crash tests, ``XNB_CRASH_AFTER_CHUNKS=N`` ends the process right after its N-th
committed chunk and ``XNB_CRASH_IN_CHUNK=N`` in the middle of its N-th chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.db import is_postgres, unit_of_work, utcnow
from backend.ledger.models import JobChunk, JobRun

CRASH_AFTER_ENV = "XNB_CRASH_AFTER_CHUNKS"
CRASH_IN_ENV = "XNB_CRASH_IN_CHUNK"
CRASH_EXIT_CODE = 75

ChunkWork = Callable[[Session, JobChunk], tuple[int, int]]
"""Work of one county chunk (``chunk.scope``): returns (rows written, amount in fen)."""


class Job:
    """Run states."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True)
class RunSummary:
    """What a run has done so far, over all its chunks."""

    run_id: int
    chunks_done: int
    chunks_total: int
    rows: int
    amount_fen: int
    finished: bool


def _lock(session: Session, key: str) -> None:
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def start_or_resume(*, session: Session, job: str, period: str, scopes: Sequence[str]) -> JobRun:
    """The unfinished run of (job, period), or a new one with a chunk per scope."""
    _lock(session, f"run:{job}:{period}")
    run = session.scalar(
        select(JobRun)
        .where(JobRun.job == job, JobRun.period == period, JobRun.status == Job.RUNNING)
        .order_by(JobRun.id)
        .limit(1)
    )
    if run is not None:
        return run
    run = JobRun(job=job, period=period, status=Job.RUNNING)
    session.add(run)
    session.flush()
    session.add_all(JobChunk(run_id=run.id, scope=s, status=Job.PENDING) for s in sorted(scopes))
    session.flush()
    return run


def _claim(session: Session, run_id: int) -> JobChunk | None:
    query = (
        select(JobChunk)
        .where(JobChunk.run_id == run_id, JobChunk.status == Job.PENDING)
        .order_by(JobChunk.id)
        .limit(1)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def _crash_if_asked(env: str, count: int) -> None:
    wanted = os.environ.get(env)
    if wanted and int(wanted) == count:
        os._exit(CRASH_EXIT_CODE)


def run_chunks(
    *,
    factory: sessionmaker[Session],
    run_id: int,
    job: str,
    period: str,
    work: ChunkWork,
    progress: Callable[[str, int, int, RunSummary], None] | None = None,
) -> RunSummary:
    """Work every pending chunk of a run, one transaction each; close the run at the end."""
    done_here = 0
    while True:
        with unit_of_work(factory) as session:
            chunk = _claim(session, run_id)
            if chunk is None:
                break
            _lock(session, f"chunk:{job}:{period}:{chunk.scope}")
            _crash_if_asked(CRASH_IN_ENV, done_here + 1)
            rows, amount = work(session, chunk)
            chunk.rows, chunk.amount_fen = rows, amount
            chunk.status = Job.DONE
            chunk.finished_at = utcnow()
            scope = chunk.scope
        done_here += 1
        if progress is not None:
            with unit_of_work(factory) as session:
                progress(scope, rows, amount, summary(session=session, run_id=run_id))
        _crash_if_asked(CRASH_AFTER_ENV, done_here)
    with unit_of_work(factory) as session:
        result = summary(session=session, run_id=run_id)
        if result.chunks_done == result.chunks_total:
            run = session.get(JobRun, run_id)
            if run is not None and run.status != Job.DONE:
                run.status = Job.DONE
                run.finished_at = utcnow()
            result = summary(session=session, run_id=run_id)
    return result


def summary(*, session: Session, run_id: int) -> RunSummary:
    """Totals of a run's done chunks."""
    done, rows, amount = session.execute(
        select(
            func.count(JobChunk.id),
            func.coalesce(func.sum(JobChunk.rows), 0),
            func.coalesce(func.sum(JobChunk.amount_fen), 0),
        ).where(JobChunk.run_id == run_id, JobChunk.status == Job.DONE)
    ).one()
    total = session.scalar(select(func.count(JobChunk.id)).where(JobChunk.run_id == run_id)) or 0
    run = session.get(JobRun, run_id)
    return RunSummary(
        run_id=run_id,
        chunks_done=int(done),
        chunks_total=int(total),
        rows=int(rows),
        amount_fen=int(amount),
        finished=run is not None and run.status == Job.DONE,
    )
