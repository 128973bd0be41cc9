"""The rule framework: what a rule is, the stable key of a finding, and a resumable run.

A rule is a name, a version and a set-based query: for one county on one date, with the
thresholds in force there, it yields candidates (subject, evidence rows, amount at stake).
A run applies every rule to every county of its region, one (rule, county) chunk per
transaction: a crashed run is resumed by the next run with the same parameters, and a
chunk already done is not done again. Findings are keyed by a hash of the rule, the
subject and the evidence, so a run over unchanged data raises nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db import unit_of_work, utcnow
from backend.errors import invalid
from backend.registry.models import Person
from backend.supervision.models import Finding, Run, RunChunk
from backend.supervision.thresholds import Thresholds, thresholds_on


class FindingStatus:
    """States of a finding."""

    OPEN = "open"  # raised, still found by the latest run
    RESOLVED = "resolved"  # no longer found (the data was put right)
    CLEARED = "cleared"  # judged not a problem by a supervisor: same evidence is not raised again


@dataclass(frozen=True)
class Candidate:
    """What a rule found about one subject: the rows that triggered it and the money at stake."""

    subject_type: str  # person | pension | operator
    subject_id: int
    region_code: str
    evidence: dict[str, Any]  # ids, dates, amounts: never clear personal data
    amount_fen: int


Finder = Callable[[Session, str, dt.date, Thresholds], Iterable[Candidate]]


@dataclass(frozen=True)
class Rule:
    """A named, versioned, set-based query yielding candidates for one county on a date."""

    name: str
    version: int
    label: str
    find: Finder = field(repr=False)


def canonical(evidence: dict[str, Any]) -> str:
    """Evidence as canonical JSON (sorted keys, dates as ISO text)."""
    return json.dumps(evidence, sort_keys=True, ensure_ascii=False, default=str)


def finding_key(rule: str, subject_type: str, subject_id: int, evidence: dict[str, Any]) -> str:
    """The stable key: the same rule, subject and evidence always give the same key."""
    text = canonical({"rule": rule, "subject": [subject_type, subject_id], "evidence": evidence})
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ChunkCounts:
    """What one (rule, county) chunk changed."""

    new_count: int = 0
    open_count: int = 0
    resolved_count: int = 0
    new_fen: int = 0
    open_fen: int = 0
    resolved_fen: int = 0


def apply_rule(
    *, session: Session, run: Run, rule: Rule, county_code: str, as_of: dt.date
) -> ChunkCounts:
    """Run one rule over one county and record what is new, still open and resolved."""
    resolved = thresholds_on(session=session, region_code=county_code, on=as_of)
    found: dict[str, Candidate] = {}
    for candidate in rule.find(session, county_code, as_of, resolved.thresholds):
        key = finding_key(
            rule.name, candidate.subject_type, candidate.subject_id, candidate.evidence
        )
        found[key] = candidate
    counts = ChunkCounts()
    known = {
        f.finding_key: f
        for f in session.scalars(
            select(Finding).where(
                Finding.rule == rule.name,
                Finding.county_code == county_code,
                Finding.status == FindingStatus.OPEN,
            )
        )
    }
    if found:
        for f in session.scalars(select(Finding).where(Finding.finding_key.in_(list(found)))):
            known[f.finding_key] = f
    now = utcnow()
    for key, candidate in found.items():
        finding = known.get(key)
        if finding is None:
            session.add(
                Finding(
                    finding_key=key,
                    rule=rule.name,
                    rule_version=rule.version,
                    subject_type=candidate.subject_type,
                    subject_id=candidate.subject_id,
                    county_code=county_code,
                    region_code=candidate.region_code,
                    evidence_json=canonical(candidate.evidence),
                    amount_fen=candidate.amount_fen,
                    threshold_version_id=resolved.version_id,
                    status=FindingStatus.OPEN,
                    first_run_id=run.id,
                    last_run_id=run.id,
                    raised_at=now,
                )
            )
            counts.new_count += 1
            counts.new_fen += candidate.amount_fen
        elif finding.status == FindingStatus.CLEARED:
            continue
        elif finding.status == FindingStatus.RESOLVED:
            # Found again after it had gone away: raised anew on the same record.
            finding.status = FindingStatus.OPEN
            finding.resolved_at = None
            finding.last_run_id = run.id
            counts.new_count += 1
            counts.new_fen += finding.amount_fen
        else:
            finding.last_run_id = run.id
            counts.open_count += 1
            counts.open_fen += finding.amount_fen
    for key, finding in known.items():
        if key not in found and finding.status == FindingStatus.OPEN:
            finding.status = FindingStatus.RESOLVED
            finding.resolved_at = now
            finding.last_run_id = run.id
            counts.resolved_count += 1
            counts.resolved_fen += finding.amount_fen
    session.flush()
    return counts


def _params_key(rule: str | None, region_prefix: str, as_of: dt.date) -> str:
    return hashlib.sha256(f"{rule or '*'}|{region_prefix}|{as_of.isoformat()}".encode()).hexdigest()


def _counties(session: Session, region_prefix: str) -> list[str]:
    return list(
        session.scalars(
            select(Person.county_code)
            .where(Person.county_code.startswith(region_prefix[:6]))
            .distinct()
            .order_by(Person.county_code)
        )
    )


def summarise(session: Session, run_id: int) -> dict[str, dict[str, int]]:
    """Per rule: findings new / still open / resolved in the run, and their amounts (fen)."""
    summary: dict[str, dict[str, int]] = {}
    for chunk in session.scalars(
        select(RunChunk).where(RunChunk.run_id == run_id).order_by(RunChunk.id)
    ):
        totals = summary.setdefault(chunk.rule, dict.fromkeys(ChunkCounts().__dict__, 0))
        for name in totals:
            totals[name] += getattr(chunk, name)
    return summary


def run(
    *,
    factory: sessionmaker[Session],
    rules: list[Rule],
    region_prefix: str,
    as_of: dt.date,
    only_rule: str | None = None,
    progress: Callable[[str, str, ChunkCounts], None] | None = None,
) -> int:
    """Run ``rules`` over the counties under ``region_prefix`` on ``as_of``; the run's id.

    One transaction per (rule, county) chunk. An unfinished run with the same parameters is
    resumed (its finished chunks are skipped); otherwise a new run starts.
    """
    if not (region_prefix.isdigit() and len(region_prefix) in (2, 4, 6)):
        raise invalid("region", "区划前缀须为2位（省）、4位（市）或6位（县）数字")
    key = _params_key(only_rule, region_prefix, as_of)
    with unit_of_work(factory) as session:
        current = session.scalar(
            select(Run).where(Run.params_key == key, Run.status == "running").limit(1)
        )
        if current is None:
            current = Run(
                params_key=key,
                rule=only_rule,
                region_prefix=region_prefix,
                as_of=as_of,
                status="running",
                summary_json="{}",
                started_at=utcnow(),
            )
            session.add(current)
            session.flush()
        run_id = current.id
        counties = _counties(session, region_prefix)
        done = {
            (chunk_rule, chunk_county)
            for chunk_rule, chunk_county in session.execute(
                select(RunChunk.rule, RunChunk.county_code).where(RunChunk.run_id == run_id)
            )
        }
    for rule in rules:
        for county in counties:
            if (rule.name, county) in done:
                continue
            with unit_of_work(factory) as session:
                current = session.get_one(Run, run_id)
                counts = apply_rule(
                    session=session, run=current, rule=rule, county_code=county, as_of=as_of
                )
                session.add(
                    RunChunk(run_id=run_id, rule=rule.name, county_code=county, **counts.__dict__)
                )
            if progress is not None:
                progress(rule.name, county, counts)
    with unit_of_work(factory) as session:
        current = session.get_one(Run, run_id)
        current.summary_json = json.dumps(summarise(session, run_id), sort_keys=True)
        current.status = "done"
        current.finished_at = utcnow()
    return run_id
