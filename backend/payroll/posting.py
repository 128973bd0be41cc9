"""Posting paid payroll lines: account draws by source, overpayments kept back, the books.

The caller opens the journal entry (``open_entry``), marks the lines it pays with it (state
``paid`` and the entry in one update), puts their ids into ``tmp_paid_lines`` (one county)
and calls ``post_paid``, which in that entry:

* draws each line's account pension from the individual account by source (the split
  fixed at the award, ``pension_draws``), never below a source's real balance: a share a
  used-up source cannot give comes from what else the account holds (interest credited
  since the award), and once the account is used up the account pension is paid by
  government funds with the basic pension;
* records what each paid ``recovery`` line kept back as a deduction from its overpayment;
* posts Dr 5201 / Cr 4101 for what government funds paid, Dr 2101 / Cr 1001 for the account
  draws, and Cr 1201 for the overpayments kept back (the expense stays the gross pension).

Checking real balances is the exception: a source's balance, when last checked, proves
every draw up to ``pension_draws.covered_through`` (the draw is fixed and each month is
drawn at most once), so only sources past that month (or never checked) are summed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.accounts.posting import open_posting
from backend.contributions.payments import drop_temporary_table
from backend.db import utcnow
from backend.errors import Conflict
from backend.ledger import chart
from backend.ledger.models import JournalEntry, JournalLine

PAID_TABLE = "tmp_paid_lines"
_BALANCES = "tmp_draw_balances"


def month_number(month: dt.date) -> int:
    """A month as one integer (year × 12 + month − 1), comparable in SQL on any database."""
    return month.year * 12 + month.month - 1


def start(session: Session) -> None:
    """An empty ``tmp_paid_lines`` for this connection."""
    drop_temporary_table(session=session, table=PAID_TABLE)
    session.execute(text(f"CREATE TEMPORARY TABLE {PAID_TABLE} (line_id BIGINT PRIMARY KEY)"))


def finish(session: Session) -> None:
    """Drop this connection's posting tables."""
    drop_temporary_table(session=session, table=PAID_TABLE)
    drop_temporary_table(session=session, table=_BALANCES)


# Lines that draw from an account, with their pension's draw rows.
_DRAWING = f"""
FROM {PAID_TABLE} t
JOIN payroll_lines l ON l.id = t.line_id
JOIN pensions p ON p.id = l.pension_id
JOIN pension_draws d ON d.pension_id = p.id
WHERE p.account_id IS NOT NULL AND l.account_fen > 0
"""

# The real balance by source of every account with a draw not proved covered.
_FILL_BALANCES = f"""
INSERT INTO {_BALANCES} (account_id, source, balance_fen)
SELECT e.account_id, e.source, SUM(e.amount_fen)
FROM account_entries e
WHERE e.account_id IN (
    SELECT p.account_id {_DRAWING}
      AND (d.covered_through IS NULL OR d.covered_through < :month_no))
GROUP BY e.account_id, e.source
"""

# Each line draws its share of each source; a source not proved covered gives at most what
# its balance has left after the pension's earlier lines in this posting.
_DRAWS = f"""
INSERT INTO account_entries (account_id, county_code, year, month, entry_date, source,
    amount_fen, policy_version_id, ref_type, ref_id, journal_entry_id, created_at)
SELECT x.account_id, x.county_code, :year, :mon, :on, x.source,
       -(CASE WHEN x.covered = 1 OR x.balance_fen - x.before_fen >= x.monthly_fen
              THEN x.monthly_fen ELSE x.balance_fen - x.before_fen END),
       x.policy_version_id, 'payroll_line', x.line_id, :je, :now
FROM (
    SELECT p.account_id, l.county_code, d.source, l.policy_version_id, l.id AS line_id,
           d.monthly_fen,
           CASE WHEN d.covered_through >= :month_no THEN 1 ELSE 0 END AS covered,
           COALESCE(b.balance_fen, 0) AS balance_fen,
           SUM(d.monthly_fen) OVER (PARTITION BY p.id, d.source ORDER BY l.month, l.id
                                    ROWS UNBOUNDED PRECEDING) - d.monthly_fen AS before_fen
    FROM {PAID_TABLE} t
    JOIN payroll_lines l ON l.id = t.line_id
    JOIN pensions p ON p.id = l.pension_id
    JOIN pension_draws d ON d.pension_id = p.id
    LEFT JOIN {_BALANCES} b ON b.account_id = p.account_id AND b.source = d.source
    WHERE p.account_id IS NOT NULL AND l.account_fen > 0
) x
WHERE x.covered = 1 OR x.balance_fen > x.before_fen
"""

# What a pension's lines wanted from the account but their sources' shares could not give
# (a used-up source) comes from whatever the account still has (interest credited since the
# award, another source's rest), in source order, charged to the pension's latest line;
# only for accounts whose balance was checked. The rest is paid by government funds.
_SHORTFALL = f"""
INSERT INTO account_entries (account_id, county_code, year, month, entry_date, source,
    amount_fen, policy_version_id, ref_type, ref_id, journal_entry_id, created_at)
SELECT z.account_id, z.county_code, :year, :mon, :on, z.source,
       -(CASE WHEN z.short_fen - z.before_fen >= z.left_fen THEN z.left_fen
              ELSE z.short_fen - z.before_fen END),
       z.policy_version_id, 'payroll_line', z.line_id, :je, :now
FROM (
    SELECT s.account_id, s.county_code, s.policy_version_id, s.line_id, s.short_fen,
           b.source, b.balance_fen - COALESCE(e.drawn_fen, 0) AS left_fen,
           SUM(b.balance_fen - COALESCE(e.drawn_fen, 0)) OVER (
               PARTITION BY s.account_id ORDER BY b.source ROWS UNBOUNDED PRECEDING)
           - (b.balance_fen - COALESCE(e.drawn_fen, 0)) AS before_fen
    FROM (
        SELECT p.account_id, MAX(l.county_code) AS county_code,
               MAX(l.policy_version_id) AS policy_version_id, MAX(l.id) AS line_id,
               SUM(l.account_fen) - COALESCE((
                   SELECT -SUM(e2.amount_fen) FROM account_entries e2
                   WHERE e2.journal_entry_id = :je AND e2.account_id = p.account_id), 0)
               AS short_fen
        FROM {PAID_TABLE} t
        JOIN payroll_lines l ON l.id = t.line_id
        JOIN pensions p ON p.id = l.pension_id
        WHERE l.account_fen > 0 AND p.account_id IN (SELECT account_id FROM {_BALANCES})
        GROUP BY p.account_id
    ) s
    JOIN {_BALANCES} b ON b.account_id = s.account_id
    LEFT JOIN (SELECT e.account_id, e.source, -SUM(e.amount_fen) AS drawn_fen
               FROM account_entries e WHERE e.journal_entry_id = :je
               GROUP BY e.account_id, e.source) e
      ON e.account_id = b.account_id AND e.source = b.source
    WHERE s.short_fen > 0 AND b.balance_fen - COALESCE(e.drawn_fen, 0) > 0
) z
WHERE z.short_fen > z.before_fen
"""

# After the draws of a checked account: how far the balance now left proves each later
# draw. Months up to the payroll's not yet drawn (lines sent, unknown, or failed and not
# re-issued) come first.
_COVERED = f"""
UPDATE pension_draws
SET covered_through = :month_no
    + (COALESCE((SELECT b.balance_fen FROM {_BALANCES} b
                 JOIN pensions p ON p.account_id = b.account_id
                 WHERE p.id = pension_draws.pension_id AND b.source = pension_draws.source), 0)
       + COALESCE((SELECT CAST(SUM(e.amount_fen) AS BIGINT) FROM account_entries e
                   JOIN pensions p ON p.account_id = e.account_id
                   WHERE p.id = pension_draws.pension_id AND e.source = pension_draws.source
                     AND e.journal_entry_id = :je), 0)) / pension_draws.monthly_fen
    - (SELECT COUNT(*) FROM payroll_lines u
       WHERE u.pension_id = pension_draws.pension_id AND u.account_fen > 0
         AND u.state <> 'paid'
         AND NOT EXISTS (SELECT 1 FROM payroll_lines r WHERE r.reissue_of_id = u.id))
WHERE pension_draws.monthly_fen > 0
  AND pension_draws.pension_id IN (
      SELECT l.pension_id FROM {PAID_TABLE} t
      JOIN payroll_lines l ON l.id = t.line_id
      JOIN pensions p ON p.id = l.pension_id
      WHERE l.account_fen > 0 AND p.account_id IN (SELECT account_id FROM {_BALANCES}))
"""

_SUMS = f"""
SELECT COUNT(*),
       COALESCE(SUM(CASE WHEN l.kind <> 'recovery' THEN l.amount_fen ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN l.kind = 'recovery' THEN -l.amount_fen ELSE 0 END), 0)
FROM {PAID_TABLE} t JOIN payroll_lines l ON l.id = t.line_id
"""

# What paid recovery lines kept back: one deduction per line (``apply_recovery`` set-based),
# then each overpayment's total and status follow.
_KEPT_BACK = f"""
FROM {PAID_TABLE} t JOIN payroll_lines l ON l.id = t.line_id
WHERE l.kind = 'recovery'
"""

_RECORD_DEDUCTIONS = f"""
INSERT INTO overpayment_recoveries (overpayment_id, kind, amount_fen, recovered_on,
    payroll_line_id, journal_entry_id, created_at)
SELECT l.overpayment_id, 'deduction', -l.amount_fen, :on, l.id, :je, :now
{_KEPT_BACK}
"""

_ADD_DEDUCTIONS = f"""
UPDATE benefit_overpayments
SET recovered_fen = recovered_fen + s.kept_fen,
    status = CASE WHEN recovered_fen + s.kept_fen = amount_fen THEN 'settled' ELSE status END,
    settled_at = CASE WHEN recovered_fen + s.kept_fen = amount_fen THEN :now
                      ELSE settled_at END
FROM (SELECT l.overpayment_id, -SUM(l.amount_fen) AS kept_fen {_KEPT_BACK}
      GROUP BY l.overpayment_id) s
WHERE benefit_overpayments.id = s.overpayment_id
"""

_OVER_RECOVERED = f"""
SELECT COUNT(*) FROM benefit_overpayments o
WHERE o.id IN (SELECT l.overpayment_id {_KEPT_BACK}) AND o.recovered_fen > o.amount_fen
"""


def open_entry(
    *, session: Session, county_code: str, on: dt.date, ref_type: str, ref_id: int, memo: str
) -> JournalEntry:
    """The journal entry that the lines about to be paid are posted in."""
    return open_posting(
        session=session,
        county_code=county_code,
        event="pension.payout",
        posted_on=on,
        ref_type=ref_type,
        ref_id=ref_id,
        memo=memo,
    )


def post_paid(*, session: Session, entry: JournalEntry, payroll_month: dt.date, on: dt.date) -> int:
    """Post the lines in ``tmp_paid_lines`` in ``entry`` (see the module notes).

    Returns the amount paid to the pensioners (fen).
    """
    county_code = entry.county_code
    _count, gross, kept = (int(x) for x in session.execute(text(_SUMS)).one())
    params = {
        "month_no": month_number(payroll_month),
        "year": on.year,
        "mon": on.month,
        "on": on,
        "je": entry.id,
        "now": utcnow(),
    }
    drop_temporary_table(session=session, table=_BALANCES)
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {_BALANCES} (account_id BIGINT, source VARCHAR(24),"
            " balance_fen BIGINT, PRIMARY KEY (account_id, source))"
        )
    )
    session.execute(text(_FILL_BALANCES), params)
    session.execute(text(_DRAWS), params)
    session.execute(text(_SHORTFALL), params)
    session.execute(text(_COVERED), params)
    drawn = -int(
        session.scalar(
            text(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM account_entries"
                " WHERE journal_entry_id = :je"
            ),
            {"je": entry.id},
        )
        or 0
    )
    if kept:
        session.execute(text(_RECORD_DEDUCTIONS), params)
        session.execute(text(_ADD_DEDUCTIONS), params)
        if session.scalar(text(_OVER_RECOVERED)):
            # Repaid meanwhile at a counter: refuse rather than keep back more than owed.
            raise Conflict(
                detail="扣回金额超出多发未追回金额，请核对该多发记录",
                code="recovery_exceeds_outstanding",
            )
    # Government funds pay the gross pension less the account draws (the basic pension and
    # any account pension a used-up source could not give), less what was kept back.
    government = gross - drawn - kept
    lines = [
        chart.debit(chart.BASIC_PENSION_EXPENSE, gross - drawn),
        chart.credit(chart.GOVERNMENT_BASIC_PENSION, max(government, 0)),
        chart.credit(chart.OVERPAYMENT_RECEIVABLE, kept),
        chart.debit(chart.INDIVIDUAL_ACCOUNTS, drawn),
        chart.credit(chart.INCOME_BANK, drawn + min(government, 0)),
    ]
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
        if line.debit_fen or line.credit_fen
    )
    session.flush()
    return gross - kept
