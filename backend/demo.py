"""``xnb demo``: a fresh embedded database with the demo county, its offices, operators
of every role and a few thousand synthetic residents, then the server."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.banks import codes as bank_codes
from backend.benefits.models import Pension
from backend.config import Settings
from backend.db import unit_of_work
from backend.demo_cards import DemoCard, issue_demo_cards
from backend.demo_payroll import (
    DIED_ON,
    FIRST_MONTH,
    build_next_month,
    confirm_death,
    death_list,
    pay_first_month,
)
from backend.demo_pensions import Echo, award_pensions, print_computation
from backend.keys.stores import create_configured
from backend.keys.vault import KeyVault
from backend.ledger import service as ledger
from backend.ledger.cli import print_check
from backend.orgs import service as orgs
from backend.orgs.models import Office, Operator, Region
from backend.orgs.permissions import ROLE_LABELS, Role

DEMO_COUNTY = "654226"


@dataclass(frozen=True)
class DemoOperator:
    """A demo log-in printed for the person trying the system."""

    username: str
    full_name: str
    role: Role
    office_code: str


def demo_offices(session: Session) -> list[tuple[str, str, str]]:
    """(code, name, region) of the province, county and every township office of the demo."""
    townships = session.scalars(
        select(Region)
        .where(Region.level == 4, Region.code.startswith(DEMO_COUNTY))
        .order_by(Region.code)
    ).all()
    offices = [
        ("65-SB", "新疆维吾尔自治区社会保险事业管理局", "650000000000"),
        (f"{DEMO_COUNTY}-SB", "和布克赛尔蒙古自治县社会保险事业管理局", f"{DEMO_COUNTY}000000"),
    ]
    offices += [(f"{t.code[:9]}-SB", f"{t.name}社会保障所", t.code) for t in townships]
    return offices


# Operators are named as people are: the page shows the role and office beside the name.
DEMO_OPERATORS = [
    DemoOperator("clerk_xzg", "乌兰", Role.CLERK, "654226200-SB"),
    DemoOperator("reviewer_xzg", "孟克", Role.REVIEWER, "654226200-SB"),
    DemoOperator("clerk_hbk", "叶尔兰·努尔兰", Role.CLERK, "654226100-SB"),
    DemoOperator("clerk_county", "张丽", Role.CLERK, "654226-SB"),
    DemoOperator("reviewer_county", "马强", Role.REVIEWER, "654226-SB"),
    DemoOperator("admin_county", "巴特尔", Role.COUNTY_ADMIN, "654226-SB"),
    DemoOperator("admin_province", "王芳", Role.PROVINCE_ADMIN, "65-SB"),
    DemoOperator("card_centre", "古丽", Role.CARD_CENTRE, "65-SB"),
    DemoOperator("sysadmin", "周建国", Role.SYSTEM_ADMIN, "65-SB"),
    DemoOperator("secadmin", "李安", Role.SECURITY_ADMIN, "65-SB"),
    DemoOperator("auditor", "赵明", Role.AUDIT_ADMIN, "65-SB"),
]


def build_world(*, session: Session, password: str) -> list[DemoOperator]:
    """Load the tree, create the offices and the demo operators (idempotent)."""
    actor = Actor.system("demo")
    orgs.load_regions(session=session, path=orgs.DATA_DIR / "regions_654226.csv")
    for table in (bank_codes.NATIONAL, bank_codes.DEMO):
        bank_codes.load_bank_codes(session=session, path=table)
    existing = set(session.scalars(select(Office.code)))
    for code, name, region in demo_offices(session):
        if code not in existing:
            orgs.create_office(
                session=session, code=code, name=name, region_code=region, actor=actor
            )
    known = set(session.scalars(select(Operator.username)))
    for op in DEMO_OPERATORS:
        if op.username in known:
            continue
        office = orgs.get_office_by_code(session=session, code=op.office_code)
        orgs.create_operator(
            session=session,
            principal=None,
            actor=actor,
            username=op.username,
            full_name=op.full_name,
            role=op.role,
            office_id=office.id,
            password=password,
        )
    return DEMO_OPERATORS


def banner(*, base_url: str, password: str, residents: int, database: Path) -> str:
    """What the demo prints before the server starts."""
    lines = [
        "",
        "══ xnb 演示环境（开发模式：明文 HTTP，仅监听本机）══",
        f"数据库      {database}",
        f"居民        {residents} 人（合成数据，和布克赛尔蒙古自治县）",
        f"接口文档    {base_url}/docs",
        f"健康检查    {base_url}/healthz   {base_url}/readyz",
        f"登录        POST {base_url}/api/v1/auth/login",
        "",
        f"演示账户（口令均为 {password}）：",
    ]
    lines += [
        f"  {op.username:<16} {ROLE_LABELS[op.role]:<6} {op.full_name}" for op in DEMO_OPERATORS
    ]
    lines += [
        "",
        "试一试：",
        f"  TOKEN=$(curl -s {base_url}/api/v1/auth/login -H 'Content-Type: application/json' \\",
        f'    -d \'{{"username":"clerk_xzg","password":"{password}"}}\' | python3 -c '
        "'import json,sys;print(json.load(sys.stdin)[\"access_token\"])')",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{base_url}/api/v1/persons?limit=5'",
        "",
        "按 Ctrl+C 停止。",
    ]
    return "\n".join(lines)


def pension_story(
    *, factory: sessionmaker[Session], county: str, seed: int, var_dir: Path, echo: Echo
) -> None:
    """Awards, one computation, June paid and reconciled, a death, July built, the books."""
    rng = random.Random(seed)
    pension_ids = award_pensions(factory=factory, county=county, rng=rng, echo=echo)
    with unit_of_work(factory) as session:
        pensions = [session.get_one(Pension, pid) for pid in pension_ids]
        showcase = pensions[0] if pensions else None
        # Someone paid since May, so that June's pension was paid after a death in May.
        dying = next((p for p in pensions[1:] if p.start_month <= DIED_ON.replace(day=1)), None)
        if showcase is None or dying is None:
            echo("  居民太少，没有足够的待遇领取人演示发放（请增加 --residents）")
            return
        spare = {showcase.person_id, dying.person_id}
        showcase_id, dying_id = showcase.id, dying.id
        print_computation(session=session, pension_id=showcase_id, month=FIRST_MONTH, echo=echo)
    pay_first_month(
        factory=factory,
        county=county,
        out_dir=var_dir / "payroll",
        spare=spare,
        rng=rng,
        echo=echo,
    )
    case_id = death_list(
        factory=factory, pension_id=dying_id, out_dir=var_dir / "deaths", echo=echo
    )
    build_next_month(factory=factory, county=county, echo=echo)
    confirm_death(factory=factory, case_id=case_id, echo=echo)
    with unit_of_work(factory) as session:
        print_check(ledger.check(session=session))


@dataclass(frozen=True)
class PreparedDemo:
    """What ``prepare_demo`` made: the settings to serve with and what to tell the user."""

    settings: Settings
    database: Path
    password: str
    cards: list[DemoCard]


def prepare_demo(*, residents: int, seed: int) -> PreparedDemo:
    """Fresh SQLite database under var/: the demo world, residents and their contribution story."""
    import typer

    from backend.contributions.demo import contribution_history
    from backend.db import make_engine, make_session_factory
    from backend.migrations import upgrade
    from backend.seed import seed_residents

    settings = Settings()
    if settings.env == "production" or not settings.is_sqlite:
        raise typer.BadParameter("演示只在开发模式的嵌入式 SQLite 数据库上运行")
    database = Path(settings.database_url.split("///", 1)[1]).resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    typer.echo(f"迁移新数据库 {database} …")
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    password = settings.demo_password.get_secret_value()
    with unit_of_work(factory) as session:
        build_world(session=session, password=password)
    typer.echo(f"生成 {residents} 名合成居民（种子 {seed}）…")
    with unit_of_work(factory) as session:
        seed_residents(session=session, county=DEMO_COUNTY, residents=residents, seed=seed)
    typer.echo("生成缴费历史（核定、柜台收款、银行代扣与回盘、结息）…")
    for line in contribution_history(
        factory=factory, county=DEMO_COUNTY, seed=seed, out_dir=database.parent / "bank"
    ):
        typer.echo(line)
    typer.echo("养老金待遇（补缴、申请与复核、月度发放、银行回盘、死亡核查）…")
    pension_story(
        factory=factory, county=DEMO_COUNTY, seed=seed, var_dir=database.parent, echo=typer.echo
    )
    typer.echo("社保卡：申领、制卡、个人化（演示密钥）、发放、启用 …")
    cards = issue_demo_cards(factory=factory, vault=_demo_vault(settings))
    for card in cards:
        typer.echo(f"  {card.label:<12} {card.role}  {card.name}  卡号 {card.card_number}")
    engine.dispose()
    return PreparedDemo(settings=settings, database=database, password=password, cards=cards)


def _demo_vault(settings: Settings) -> KeyVault:
    """A fresh card key vault holding the public DEMO keys (never for production)."""
    if settings.key_store != "file":
        raise ValueError("the demo makes its own file key vault (key_store = file)")
    settings.card_vault_path.unlink(missing_ok=True)
    settings.card_vault_path.parent.mkdir(parents=True, exist_ok=True)
    return create_configured(settings, province_code="65", demo_keys=True, scrypt_n=2**12)
