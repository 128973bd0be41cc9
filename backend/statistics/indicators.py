"""The indicators of the residents' scheme, computed set-based over the operational tables.

Every figure is a count or a sum in fen grouped by a prefix of a region code, so the
figures of a region are the sums of its children's (rates are derived at presentation,
never added). Each query reads only dated or append-only facts where the tables keep
them (enrolment dates, account entries, ledger lines, pension months and computations),
so a figure for a past period does not move when later business is done. Where a table
keeps only the current state (a pension's suspension), the docs say so.

Regions: residents and enrolments by their village, contributions by the account
holder's household-register village, pensions by the pension's region, the fund's
books by county (the fund is kept by county: below county level ledger figures are
not attributable and are left out).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, distinct, exists, extract, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from backend.accounts.models import Account, AccountEntry
from backend.benefits.models import Computation, DeathCase, Pension
from backend.cards.models import Card, CardEvent
from backend.contributions.models import Assessment
from backend.errors import FieldError, InvalidInput
from backend.ledger import chart
from backend.ledger.models import JournalEntry, JournalLine
from backend.payroll.models import PayrollLine
from backend.registry.models import Enrolment, Person

# Bump whenever a definition below changes: reports store it so that a recomputation
# under another definition is recognised as such.
QUERY_VERSION = "2026-12-02.3"

ELIGIBLE_AGE = 16
# Business days are Beijing days; timestamps are stored in UTC.
BEIJING = dt.timezone(dt.timedelta(hours=8))
# Age bands of the statistical forms (lower bounds; the last is open).
AGE_BANDS = (16, 30, 45, 60, 70, 80)

# Channel of an own contribution by the reference its account entry carries.
CHANNELS = {"collection": "counter", "bank_row": "withholding", "tax_row": "tax"}
# Account entries that are contributions (own money by channel, the subsidies and
# collective aid settled with it, and their reversals); pension draws, transfers and
# inheritance are not.
CONTRIBUTION_REFERENCES = (*CHANNELS, "settlement", "settlement_reversal")

ASSET_ACCOUNTS = tuple(code for code, a in chart.CHART.items() if a.kind is chart.Kind.ASSET)

# Indicator codes and their Chinese column headings, in the order of the forms.
INDICATORS: dict[str, str] = {
    "eligible": "应参保人数",
    "enrolled": "参保人数",
    "contributors": "缴费人数",
    "contributors_counter": "柜面缴费人数",
    "contributors_withholding": "银行代扣缴费人数",
    "contributors_tax": "税务征收缴费人数",
    "hardship_payers": "政府代缴人数",
    "contribution_fen": "个人缴费金额",
    "subsidy_fen": "政府缴费补贴",
    "government_paid_fen": "政府代缴金额",
    "collective_fen": "集体补助及捐助",
    "refund_fen": "退费金额",
    "pensioners": "领取待遇人数",
    "new_awards": "新增领取人数",
    "suspensions": "本期暂停人数",
    "terminations": "本期终止人数",
    "pension_total_fen": "月养老金合计",
    "certification_due": "本期应认证人数",
    "certification_overdue": "认证逾期人数",
    "payouts_paid": "发放成功笔数",
    "payouts_paid_fen": "发放成功金额",
    "payouts_failed": "发放失败笔数",
    "payouts_failed_fen": "发放失败金额",
    "cards_issued": "本期发卡张数",
    "cards_active": "期末启用卡张数",
    "cards_lost": "本期挂失张数",
    "cards_replaced": "本期补换卡张数",
    "fund_income_fen": "基金收入",
    "fund_expenditure_fen": "基金支出",
    "fund_balance_fen": "期末基金结余",
}


@dataclass(frozen=True)
class Period:
    """A statistical period: a calendar month or a whole year."""

    year: int
    month: int | None = None

    @classmethod
    def parse(cls, text: str) -> Period:
        """``YYYY-MM`` or ``YYYY``; a field-level error otherwise."""
        try:
            if len(text) == 7 and text[4] == "-":
                period = cls(int(text[:4]), int(text[5:]))
            elif len(text) == 4:
                period = cls(int(text))
            else:
                raise ValueError(text)
        except ValueError:
            raise InvalidInput(
                detail="统计期应为YYYY-MM（月）或YYYY（年）",
                code="invalid_period",
                fields=[FieldError("period", "统计期应为YYYY-MM或YYYY")],
            ) from None
        if not (2009 <= period.year <= 2100) or not (
            period.month is None or 1 <= period.month <= 12
        ):
            raise InvalidInput(
                detail="统计期超出范围",
                code="invalid_period",
                fields=[
                    FieldError("period", "年份应在2009至2100之间，月份在1至12之间", "out_of_range")
                ],
            )
        return period

    def __str__(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"

    @property
    def start(self) -> dt.date:
        """First day of the period."""
        return dt.date(self.year, self.month or 1, 1)

    @property
    def end(self) -> dt.date:
        """Last day of the period."""
        last_month = self.month or 12
        following = dt.date(self.year + (last_month == 12), last_month % 12 + 1, 1)
        return following - dt.timedelta(days=1)

    @property
    def last_month(self) -> dt.date:
        """First day of the period's last month (pension months are stored so)."""
        return dt.date(self.year, self.month or 12, 1)

    def months(self) -> list[Period]:
        """The months of the period."""
        if self.month is not None:
            return [self]
        return [Period(self.year, m) for m in range(1, 13)]


Figures = dict[str, dict[str, int]]


def _key(
    column: ColumnElement[str] | InstrumentedAttribute[str], length: int
) -> ColumnElement[str]:
    return func.substr(column, 1, length)


def _add(figures: Figures, rows: Iterable[Sequence[Any]], names: tuple[str, ...]) -> None:
    for key, *values in rows:
        for name, value in zip(names, values, strict=True):
            if value:
                figures[key][name] = figures[key].get(name, 0) + int(value)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def alive_on(day: dt.date) -> ColumnElement[bool]:
    """The person (``Person``) has no confirmed death on or before ``day``."""
    return ~exists().where(
        DeathCase.person_id == Person.id,
        DeathCase.status == "confirmed",
        DeathCase.died_on <= day,
    )


def enrolled_on(day: dt.date) -> ColumnElement[bool]:
    """The enrolment (``Enrolment``) has begun by ``day`` and not ended by then."""
    return and_(
        Enrolment.enrolled_on <= day,
        or_(Enrolment.ended_on.is_(None), Enrolment.ended_on > day),
        or_(Enrolment.status != "terminated", Enrolment.ended_on.is_not(None)),
    )


def _eligible_on(day: dt.date) -> ColumnElement[bool]:
    return and_(
        Person.birth_date <= _years_before(day, ELIGIBLE_AGE),
        Person.in_employee_scheme.is_(False),
        Person.is_student.is_(False),
        Person.is_civil_servant.is_(False),
        alive_on(day),
    )


def _receiving_in(month: dt.date) -> ColumnElement[bool]:
    return and_(
        Pension.start_month <= month,
        or_(Pension.end_month.is_(None), Pension.end_month >= month),
    )


def compute(*, session: Session, prefix: str, key_length: int, period: Period) -> Figures:
    """Every indicator of ``period`` for the regions under ``prefix``, keyed by code prefix.

    ``key_length`` is the length of the region-code prefix rows are grouped by (2, 4, 6,
    9 or 12); it must not be shorter than ``prefix``.
    """
    if key_length < len(prefix):
        raise ValueError("key_length shorter than the prefix")
    figures: Figures = defaultdict(dict)
    end = period.end
    _population(session, figures, prefix, key_length, end)
    _contributions(session, figures, prefix, key_length, period)
    _pensions(session, figures, prefix, key_length, period)
    _cards(session, figures, prefix, key_length, period)
    if key_length <= 6:
        _fund(session, figures, prefix, key_length, period)
    return {key: dict(values) for key, values in sorted(figures.items())}


def _population(session: Session, figures: Figures, prefix: str, length: int, end: dt.date) -> None:
    key = _key(Person.hukou_region_code, length)
    eligible = (
        select(key, func.count())
        .where(Person.hukou_region_code.startswith(prefix), _eligible_on(end))
        .group_by(key)
    )
    _add(figures, session.execute(eligible), ("eligible",))
    enrolment_key = _key(Enrolment.region_code, length)
    enrolled = (
        select(enrolment_key, func.count(distinct(Enrolment.person_id)))
        .join(Person, Person.id == Enrolment.person_id)
        .where(Enrolment.region_code.startswith(prefix), enrolled_on(end), alive_on(end))
        .group_by(enrolment_key)
    )
    _add(figures, session.execute(enrolled), ("enrolled",))


def _contributions(
    session: Session, figures: Figures, prefix: str, length: int, period: Period
) -> None:
    key = _key(Person.hukou_region_code, length)

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, AccountEntry.amount_fen), else_=0))

    own = AccountEntry.source == "own"
    # One row per resident: what their contributions of the period came to, net of
    # reversals in the same period, so a reversed payment makes no contributor.
    per_person = (
        select(
            key.label("region"),
            Account.person_id.label("person_id"),
            total(own).label("own"),
            total(AccountEntry.source == "government_subsidy").label("subsidy"),
            total(AccountEntry.source == "government_paid").label("government_paid"),
            total(AccountEntry.source.in_(("collective", "donation"))).label("collective"),
            (-total(AccountEntry.source == "refund")).label("refund"),
            *(
                total(and_(own, AccountEntry.ref_type == ref_type)).label(channel)
                for ref_type, channel in CHANNELS.items()
            ),
        )
        .join(Account, Account.id == AccountEntry.account_id)
        .join(Person, Person.id == Account.person_id)
        .where(
            AccountEntry.entry_date >= period.start,
            AccountEntry.entry_date <= period.end,
            Person.hukou_region_code.startswith(prefix),
            or_(
                AccountEntry.ref_type.in_(CONTRIBUTION_REFERENCES),
                AccountEntry.source == "refund",
            ),
        )
        .group_by(key, Account.person_id)
        .subquery()
    )
    c = per_person.c
    rows = select(
        c.region,
        func.sum(c.own),
        func.sum(c.subsidy),
        func.sum(c.government_paid),
        func.sum(c.collective),
        func.sum(c.refund),
        func.count(case((c.own > 0, 1))),
        func.count(case((c.government_paid > 0, 1))),
        *(func.count(case((c[channel] > 0, 1))) for channel in CHANNELS.values()),
    ).group_by(c.region)
    _add(
        figures,
        session.execute(rows),
        (
            "contribution_fen",
            "subsidy_fen",
            "government_paid_fen",
            "collective_fen",
            "refund_fen",
            "contributors",
            "hardship_payers",
            *(f"contributors_{channel}" for channel in CHANNELS.values()),
        ),
    )
    # Contributors by grade: the residents who paid in the period, by the grade of their
    # assessment of the period's year (one per person and year). Someone who paid only
    # for past years (make-up) has none and appears under no grade.
    grade = (
        select(c.region, Assessment.grade_fen, func.count())
        .join(
            Assessment,
            and_(Assessment.person_id == c.person_id, Assessment.year == period.year),
        )
        .where(c.own > 0)
        .group_by(c.region, Assessment.grade_fen)
    )
    for region, grade_fen, count in session.execute(grade):
        name = f"grade_{grade_fen}"
        figures[region][name] = figures[region].get(name, 0) + int(count)


def _pensions(session: Session, figures: Figures, prefix: str, length: int, period: Period) -> None:
    key = _key(Pension.region_code, length)
    last = period.last_month
    latest = (
        select(Computation.pension_id, func.max(Computation.from_month).label("from_month"))
        .where(Computation.from_month <= last)
        .group_by(Computation.pension_id)
        .subquery()
    )
    current = (
        select(Computation.pension_id, func.max(Computation.total_fen).label("total_fen"))
        .join(
            latest,
            and_(
                latest.c.pension_id == Computation.pension_id,
                latest.c.from_month == Computation.from_month,
            ),
        )
        .group_by(Computation.pension_id)
        .subquery()
    )
    receiving = _receiving_in(last)
    rows = (
        select(
            key,
            func.count(case((receiving, Pension.id))),
            func.count(
                case((and_(Pension.start_month >= period.start, Pension.start_month <= last), 1))
            ),
            func.count(
                case(
                    (
                        and_(
                            Pension.status == "suspended",
                            Pension.status_since >= period.start,
                            Pension.status_since <= last,
                        ),
                        1,
                    )
                )
            ),
            func.count(
                case((and_(Pension.end_month >= period.start, Pension.end_month <= last), 1))
            ),
            func.sum(case((receiving, func.coalesce(current.c.total_fen, 0)), else_=0)),
            func.count(
                case(
                    (
                        and_(
                            receiving,
                            Pension.certified_until >= period.start,
                            Pension.certified_until <= period.end,
                        ),
                        1,
                    )
                )
            ),
            func.count(case((and_(receiving, Pension.certified_until < period.end), 1))),
        )
        .join(current, current.c.pension_id == Pension.id, isouter=True)
        .where(Pension.region_code.startswith(prefix))
        .group_by(key)
    )
    _add(
        figures,
        session.execute(rows),
        (
            "pensioners",
            "new_awards",
            "suspensions",
            "terminations",
            "pension_total_fen",
            "certification_due",
            "certification_overdue",
        ),
    )
    line_key = _key(Pension.region_code, length)
    payouts = (
        select(
            line_key,
            func.count(case((PayrollLine.state == "paid", 1))),
            func.sum(case((PayrollLine.state == "paid", PayrollLine.amount_fen), else_=0)),
            func.count(case((PayrollLine.state == "failed", 1))),
            func.sum(case((PayrollLine.state == "failed", PayrollLine.amount_fen), else_=0)),
        )
        .join(Pension, Pension.id == PayrollLine.pension_id)
        .where(
            Pension.region_code.startswith(prefix),
            PayrollLine.month >= period.start,
            PayrollLine.month <= last,
        )
        .group_by(line_key)
    )
    _add(
        figures,
        session.execute(payouts),
        ("payouts_paid", "payouts_paid_fen", "payouts_failed", "payouts_failed_fen"),
    )


def _beijing_midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=BEIJING).astimezone(dt.UTC)


def _cards(session: Session, figures: Figures, prefix: str, length: int, period: Period) -> None:
    key = _key(Card.region_code, length)
    start = _beijing_midnight_utc(period.start)
    end = _beijing_midnight_utc(period.end + dt.timedelta(days=1))
    in_period = and_(CardEvent.at >= start, CardEvent.at < end)
    flows = (
        select(
            key,
            func.count(case((and_(in_period, CardEvent.to_state == "issued"), 1))),
            func.count(case((and_(in_period, CardEvent.action == "report_loss"), 1))),
            func.count(case((and_(in_period, CardEvent.action == "replace"), 1))),
        )
        .join(Card, Card.id == CardEvent.card_id)
        .where(Card.region_code.startswith(prefix), CardEvent.at < end)
        .group_by(key)
    )
    _add(figures, session.execute(flows), ("cards_issued", "cards_lost", "cards_replaced"))
    # Active at the end: the card's last event by then left it active.
    last = (
        select(CardEvent.card_id, func.max(CardEvent.id).label("event_id"))
        .where(CardEvent.at < end)
        .group_by(CardEvent.card_id)
        .subquery()
    )
    active = (
        select(key, func.count())
        .join(last, last.c.card_id == Card.id)
        .join(CardEvent, CardEvent.id == last.c.event_id)
        .where(Card.region_code.startswith(prefix), CardEvent.to_state == "active")
        .group_by(key)
    )
    _add(figures, session.execute(active), ("cards_active",))


def _fund(session: Session, figures: Figures, prefix: str, length: int, period: Period) -> None:
    key = _key(JournalLine.county_code, length)
    is_asset = JournalLine.account_code.in_(ASSET_ACCOUNTS)
    net = JournalLine.debit_fen - JournalLine.credit_fen
    within = JournalLine.county_code.startswith(prefix[:6])
    balance = (
        select(key, func.sum(case((is_asset, net), else_=0)))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(within, JournalEntry.posted_on <= period.end)
        .group_by(key)
    )
    _add(figures, session.execute(balance), ("fund_balance_fen",))
    for region, kinds in fund_flows(
        session=session, prefix=prefix, key_length=length, period=period
    ).items():
        figures[region]["fund_income_fen"] = sum(v for v in kinds.values() if v > 0)
        figures[region]["fund_expenditure_fen"] = -sum(v for v in kinds.values() if v < 0)


def fund_flows(
    *, session: Session, prefix: str, key_length: int, period: Period
) -> dict[str, dict[str, int]]:
    """The fund's income (+) and expenditure (−) of ``period`` by kind, per county prefix.

    A kind is a business event on a non-asset account (``event:account``, for example
    ``contribution.collect:2101`` individual contributions credited or ``pension.payout:5201``
    basic pension paid). Each entry balances, so its movement on the asset accounts equals
    its credits less debits on the others: the sum of all kinds is the change of the fund's
    balance (its assets) over the period.
    """
    key = _key(JournalLine.county_code, key_length)
    kind = JournalEntry.event + ":" + JournalLine.account_code
    rows = (
        select(key, kind, func.sum(JournalLine.credit_fen - JournalLine.debit_fen))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalLine.county_code.startswith(prefix[:6]),
            JournalLine.account_code.not_in(ASSET_ACCOUNTS),
            JournalEntry.posted_on >= period.start,
            JournalEntry.posted_on <= period.end,
        )
        .group_by(key, kind)
    )
    flows: dict[str, dict[str, int]] = defaultdict(dict)
    for region, name, amount in session.execute(rows):
        if amount:
            flows[region][name] = int(amount)
    return dict(flows)


def _enrolled_and_pensioners(
    session: Session, prefix: str, period: Period, *columns: Any
) -> Iterator[tuple[str, Sequence[Any]]]:
    """Enrolled residents and pensioners at the end of ``period`` grouped by ``columns``
    of ``Person``: ``(indicator, (*column values, count))`` rows."""
    end = period.end
    enrolled = (
        select(*columns, func.count(distinct(Person.id)))
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.region_code.startswith(prefix), enrolled_on(end), alive_on(end))
        .group_by(*columns)
    )
    pensioners = (
        select(*columns, func.count(distinct(Person.id)))
        .join(Pension, Pension.person_id == Person.id)
        .where(Pension.region_code.startswith(prefix), _receiving_in(period.last_month))
        .group_by(*columns)
    )
    for name, query in (("enrolled", enrolled), ("pensioners", pensioners)):
        for row in session.execute(query):
            yield name, tuple(row)


def by_sex_and_age(*, session: Session, prefix: str, period: Period) -> dict[str, dict[str, int]]:
    """Enrolled residents and pensioners at the end of ``period`` by sex and age band.

    Keys are ``<gender>/<band>`` (gender GB/T 2261.1 code, band the lower bound of
    ``AGE_BANDS``; age is the age reached in the period's year). Grouped in SQL by sex and
    birth year; the bands are folded from those few rows.
    """
    birth_year = extract("year", Person.birth_date)
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for name, (gender, year, count) in _enrolled_and_pensioners(
        session, prefix, period, Person.gender, birth_year
    ):
        group = f"{gender}/{age_band(period.year - int(year))}"
        result[group][name] = result[group].get(name, 0) + int(count)
    return {group: dict(values) for group, values in sorted(result.items())}


def by_ethnicity(*, session: Session, prefix: str, period: Period) -> dict[str, dict[str, int]]:
    """Enrolled residents and pensioners at the end of ``period`` by ethnicity (GB 3304)."""
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for name, (ethnicity, count) in _enrolled_and_pensioners(
        session, prefix, period, Person.ethnicity
    ):
        result[ethnicity][name] = int(count)
    return {group: dict(values) for group, values in sorted(result.items())}


def age_band(age: int) -> int:
    """The lower bound of the band ``age`` falls in (0 below the first band)."""
    band = 0
    for lower in AGE_BANDS:
        if age >= lower:
            band = lower
    return band
