"""Backend commands: serve, database, organisations, operators, audit."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.config import get_settings
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.errors import DomainError
from backend.orgs import service as orgs
from backend.orgs.permissions import ROLE_LABELS, THREE_ADMINISTRATORS, Role

if TYPE_CHECKING:
    from backend.registry.importer import RowError

db_app = typer.Typer(help="数据库结构迁移", no_args_is_help=True)
orgs_app = typer.Typer(help="行政区划与经办机构", no_args_is_help=True)
operator_app = typer.Typer(help="操作员账户", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志", no_args_is_help=True)
persons_app = typer.Typer(help="人员基本信息", no_args_is_help=True)


def session_factory() -> sessionmaker[Session]:
    """A session factory on the configured database (command-line processes)."""
    return make_session_factory(make_engine(get_settings().database_url))


def fail(error: DomainError) -> typer.Exit:
    """Print a domain error for a person at a terminal and return the exit to raise."""
    typer.secho(f"错误 [{error.code}]：{error.detail or error.title}", fg="red", err=True)
    for f in error.fields:
        typer.secho(f"  {f.field}: {f.message}", fg="red", err=True)
    return typer.Exit(code=2)


def serve(
    host: Annotated[str | None, typer.Option(help="监听地址")] = None,
    port: Annotated[int | None, typer.Option(help="监听端口")] = None,
) -> None:
    """Start the backend: HTTPS with client certificates (and CRL/OCSP over plain HTTP on
    ``pki_http_port``), or flagged plain HTTP in dev mode."""
    import asyncio

    import uvicorn

    from backend.app import create_app
    from backend.tls import serve_all, uvicorn_configs

    settings = get_settings()
    configs = uvicorn_configs(
        create_app(settings),
        settings,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )
    asyncio.run(serve_all([uvicorn.Server(config) for config in configs]))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database schema to the newest revision."""
    from backend.migrations import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo("数据库结构已是最新版本")


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="应用连接数据库所用的角色（须已存在）")],
    print_only: Annotated[bool, typer.Option("--print", help="只显示语句，不执行")] = False,
) -> None:
    """Give the application's PostgreSQL role what it needs and no more: audit records
    INSERT/SELECT only (run as the owner, again after every upgrade)."""
    from sqlalchemy import text

    from backend.audit.grants import app_role_statements

    try:
        statements = app_role_statements(role)
    except DomainError as e:
        raise fail(e) from e
    if print_only:
        typer.echo(";\n".join(statements) + ";")
        return
    engine = make_engine(get_settings().database_url)
    if engine.dialect.name != "postgresql":
        raise fail(DomainError(detail="只有 PostgreSQL 有数据库角色", code="postgres_only"))
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    typer.echo(f"已为角色 {role} 授权：审计记录只能追加与查询，不能修改或删除")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of the code."""
    from backend.migrations import current_revision, head_revision

    engine = make_engine(get_settings().database_url)
    typer.echo(f"数据库: {current_revision(engine)}  代码: {head_revision()}")


@orgs_app.command("load")
def orgs_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)] = orgs.DATA_DIR
    / "regions_654226.csv",
) -> None:
    """Load (insert or update) the administrative tree from a CSV data file."""
    with unit_of_work(session_factory()) as session:
        count = orgs.load_regions(session=session, path=path)
    typer.echo(f"已载入 {count} 个行政区划节点")


@orgs_app.command("office-create")
def office_create(code: str, name: str, region_code: str) -> None:
    """Create an office (经办机构) attached to a region."""
    try:
        with unit_of_work(session_factory()) as session:
            office = orgs.create_office(
                session=session, code=code, name=name, region_code=region_code, actor=Actor.system()
            )
            typer.echo(f"经办机构 {office.code} ({office.id}) 已建立于 {region_code}")
    except DomainError as e:
        raise fail(e) from e


PerformedBy = Annotated[
    str | None, typer.Option(help="操作人姓名（三员账户须两人在场：操作人与监督人）")
]
Witness = Annotated[str | None, typer.Option(help="监督人姓名（与操作人不是同一人）")]


def _console_actor(
    session: Session,
    *,
    role: Role,
    command: str,
    username: str,
    performed_by: str | None,
    witness: str | None,
) -> Actor:
    """The console's actor; an account of the three administrators needs two named people.

    Creating, unlocking or resetting the password of a system, security or audit
    administrator happens only here, on the host, with an operator and a witness named
    (two different people) and recorded in the audit log (docs/operations.md).
    """
    if role not in THREE_ADMINISTRATORS:
        return Actor.system()
    performer, observer = (performed_by or "").strip(), (witness or "").strip()
    if not performer or not observer or performer == observer:
        raise DomainError(
            detail=f"{ROLE_LABELS[role]}账户须由两人在服务器上共同操作："
            "请以 --performed-by 与 --witness 给出两个不同的人",
            code="two_person_rule",
        )
    actor = Actor(username=performer[:64], device="cli")
    record(
        session=session,
        actor=actor,
        action="operator.two_person_console",
        object_type="operator",
        object_id=username,
        detail={
            "command": command,
            "role": role.value,
            "performed_by": performer,
            "witness": observer,
        },
    )
    return actor


@operator_app.command("create")
def operator_create(
    username: str,
    full_name: str,
    role: Annotated[Role, typer.Option(help="角色")],
    office: Annotated[str, typer.Option(help="经办机构编号")],
    password: Annotated[str | None, typer.Option(help="口令（省略则交互输入）")] = None,
    performed_by: PerformedBy = None,
    witness: Witness = None,
) -> None:
    """Create an operator account (server console; a three-administrator account with two
    people named, audited)."""
    secret = password or getpass.getpass("口令: ")
    try:
        with unit_of_work(session_factory()) as session:
            actor = _console_actor(
                session,
                role=role,
                command="create",
                username=username,
                performed_by=performed_by,
                witness=witness,
            )
            off = orgs.get_office_by_code(session=session, code=office)
            op = orgs.create_operator(
                session=session,
                principal=None,
                actor=actor,
                username=username,
                full_name=full_name,
                role=role,
                office_id=off.id,
                password=secret,
            )
            typer.echo(f"操作员 {op.username} ({ROLE_LABELS[role]}) 已建立，机构 {off.code}")
    except DomainError as e:
        raise fail(e) from e


@operator_app.command("list")
def operator_list() -> None:
    """List every operator with role, office and lock state."""
    from sqlalchemy import select

    from backend.orgs.models import Operator

    with unit_of_work(session_factory()) as session:
        for op in session.scalars(select(Operator).order_by(Operator.username)):
            state = "停用" if not op.is_active else ("锁定" if op.locked_until else "正常")
            typer.echo(
                f"{op.username:<20} {ROLE_LABELS[Role(op.role)]:<8} {op.office.code:<16} {state}"
            )


@operator_app.command("unlock")
def operator_unlock(
    username: str, performed_by: PerformedBy = None, witness: Witness = None
) -> None:
    """Lift a log-in lockout (an administrator's with two people named)."""
    try:
        with unit_of_work(session_factory()) as session:
            op = orgs.get_operator_by_username(session=session, username=username)
            actor = _console_actor(
                session,
                role=Role(op.role),
                command="unlock",
                username=username,
                performed_by=performed_by,
                witness=witness,
            )
            orgs.unlock_operator(session=session, principal=None, actor=actor, operator=op)
        typer.echo(f"{username} 已解锁")
    except DomainError as e:
        raise fail(e) from e


@operator_app.command("passwd")
def operator_passwd(
    username: str, performed_by: PerformedBy = None, witness: Witness = None
) -> None:
    """Set a new password (interactive); ends the operator's sessions (an administrator's
    with two people named)."""
    secret = getpass.getpass("新口令: ")
    try:
        with unit_of_work(session_factory()) as session:
            op = orgs.get_operator_by_username(session=session, username=username)
            actor = _console_actor(
                session,
                role=Role(op.role),
                command="passwd",
                username=username,
                performed_by=performed_by,
                witness=witness,
            )
            orgs.update_operator(
                session=session, principal=None, actor=actor, operator=op, password=secret
            )
        typer.echo(f"{username} 的口令已更新")
    except DomainError as e:
        raise fail(e) from e


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit hash chain against itself, its head and the newest signed
    checkpoint; name each edited, deleted or truncated record and its chain (exit 1 if any)."""
    from backend.audit.checkpoints import CheckpointError, latest_checkpoint
    from backend.audit.service import verify

    try:
        checkpoint = latest_checkpoint(get_settings())
    except CheckpointError as e:
        typer.secho(f"审计检查点不可信：{e}", fg="red", err=True)
        raise typer.Exit(code=1) from e
    if checkpoint is None:
        typer.secho("没有审计检查点：只能校验链本身（未配置或尚未写入）", fg="yellow", err=True)
    with unit_of_work(session_factory()) as session:
        count, faults = verify(session=session, checkpoint=checkpoint)
    if not faults:
        typer.secho(f"审计日志完整：已校验 {count} 条记录", fg="green")
        return
    for fault in faults:
        typer.secho(
            f"链 {fault.chain} 记录 {fault.record_id}: {fault.kind} — {fault.message}",
            fg="red",
            err=True,
        )
    typer.secho(f"审计日志被破坏：{len(faults)} 处异常（共 {count} 条）", fg="red", err=True)
    raise typer.Exit(code=1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Write a signed checkpoint of every audit chain now (the backend also writes them by
    itself)."""
    from backend.audit.checkpoints import CheckpointError, current_marks, write_checkpoint

    with unit_of_work(session_factory()) as session:
        marks = current_marks(session)
    try:
        checkpoint = write_checkpoint(settings=get_settings(), marks=marks)
    except CheckpointError as e:
        raise fail(DomainError(detail=str(e), code="checkpoint_failed")) from e
    typer.echo(f"审计检查点已写入：{len(marks)} 条链，共 {checkpoint.total} 条记录")


@persons_app.command("import")
def persons_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV 文件")],
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="只导入正确的行，错误行写入拒收文件")
    ] = False,
    reject_file: Annotated[
        Path | None, typer.Option(help="拒收文件路径（默认：<文件名>.rejected.csv）")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="文件编码 utf-8 或 gb18030（默认自动识别）")
    ] = None,
) -> None:
    """Import residents from a CSV file (whole province; audited as the system actor)."""
    import time

    from backend.registry.importer import ImportRejected, import_persons

    if reject_file is None and accept_valid:
        reject_file = path.with_name(path.name + ".rejected.csv")
    started = time.perf_counter()

    def progress(rows: int) -> None:
        rate = rows / max(time.perf_counter() - started, 1e-6)
        typer.echo(f"\r已读取 {rows:,} 行（{rate:,.0f} 行/秒）", nl=False, err=True)

    try:
        with unit_of_work(session_factory()) as session:
            report = import_persons(
                session=session,
                path=path,
                actor=Actor.system(),
                accept_valid=accept_valid,
                reject_path=reject_file,
                encoding=encoding,
                chunk_rows=get_settings().import_chunk_rows,
                progress=progress,
            )
    except ImportRejected as e:
        typer.echo(err=True)
        _print_import_errors(e.report.errors, e.report.error_count)
        typer.secho(
            f"已拒收：共 {e.report.rows_read:,} 行，其中 {e.report.rows_rejected:,} 行有误；"
            "未导入任何数据（可用 --accept-valid 只导入正确的行）",
            fg="red",
            err=True,
        )
        if reject_file is not None:
            typer.echo(f"错误行已写入 {reject_file}", err=True)
        raise typer.Exit(code=2) from e
    except DomainError as e:
        typer.echo(err=True)
        raise fail(e) from e
    typer.echo(err=True)
    typer.echo(
        f"文件 {report.file_name}（{report.encoding}，SHA-256 {report.sha256[:16]}…）："
        f"共 {report.rows_read:,} 行，新导入 {report.imported:,} 人，"
        f"已存在 {report.already_present:,} 人（其中信息不同 {report.present_differing:,} 人），"
        f"新建家庭户 {report.households_created:,} 户，用时 {report.seconds:.1f} 秒"
    )
    for d in report.differing:
        typer.echo(f"  第{d.line}行 {d.id_number} 已存在，信息不同：{'、'.join(d.fields)}")
    if report.rows_rejected:
        _print_import_errors(report.errors, report.error_count)
        typer.secho(f"拒收 {report.rows_rejected:,} 行，已写入 {report.reject_file}", fg="yellow")


def _print_import_errors(errors: list[RowError], total: int) -> None:
    for e in errors:
        typer.secho(f"  第{e.line}行 {e.column}：{e.message}", fg="red", err=True)
    if total > len(errors):
        typer.secho(f"  ……另有 {total - len(errors):,} 处错误未显示", fg="red", err=True)


def seed(
    county: Annotated[str, typer.Option(help="县级区划代码（6位）")] = "654226",
    residents: Annotated[int, typer.Option(min=1, help="居民人数")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="随机种子（同一种子生成同一批人）")] = 1,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="只写出导入用 CSV 文件，不写数据库")
    ] = None,
) -> None:
    """Generate a synthetic county: residents, households and enrolments (or a CSV file)."""
    import time

    from backend.seed.generator import ResidentGenerator, villages_from_file, write_csv
    from backend.seed.service import seed_residents

    started = time.perf_counter()
    if csv_path is not None:
        villages = villages_from_file(orgs.DATA_DIR / "regions_654226.csv", county)
        if not villages:
            raise fail(DomainError(detail=f"区划数据中没有县{county}的村（社区）"))
        generator = ResidentGenerator(county=county, villages=villages, seed=seed)
        count = write_csv(csv_path, generator.residents(residents))
        typer.echo(
            f"已写出 {count:,} 名居民到 {csv_path}（用时 {time.perf_counter() - started:.1f} 秒）"
        )
        return

    def progress(rows: int) -> None:
        rate = rows / max(time.perf_counter() - started, 1e-6)
        typer.echo(f"\r已生成 {rows:,} 人（{rate:,.0f} 人/秒）", nl=False, err=True)

    try:
        with unit_of_work(session_factory()) as session:
            report = seed_residents(
                session=session,
                county=county,
                residents=residents,
                seed=seed,
                actor=Actor.system("seed"),
                progress=progress,
                chunk_rows=get_settings().import_chunk_rows,
            )
    except DomainError as e:
        raise fail(e) from e
    typer.echo(err=True)
    typer.echo(
        f"县 {county}：生成 {report.residents:,} 人，新增 {report.imported:,} 人"
        f"（已存在 {report.already_present:,} 人），新建家庭户 {report.households_created:,} 户，"
        f"参保登记 {report.enrolled:,} 人，用时 {time.perf_counter() - started:.1f} 秒"
    )


def register(app: typer.Typer) -> None:
    """Mount the backend commands on the root ``xnb`` command."""
    from backend.accounts.cli import account_app, interest_app
    from backend.banks.cli import bank_app
    from backend.benefits.cli import pension_app
    from backend.contributions.cli import contrib_app
    from backend.keys.cli import keys_app
    from backend.ledger.cli import ledger_app
    from backend.payroll.cli import payroll_app
    from backend.pki.cli import register as register_pki
    from backend.policy.cli import policy_app
    from backend.query.cli import ivr_app
    from backend.statistics.cli import projection_app, stats_app
    from backend.supervision.cli import supervision_app

    app.command("serve")(serve)
    app.add_typer(db_app, name="db")
    app.add_typer(orgs_app, name="orgs")
    app.add_typer(operator_app, name="operator")
    app.add_typer(audit_app, name="audit")
    register_pki(app)
    app.add_typer(persons_app, name="persons")
    app.command("seed")(seed)
    app.add_typer(keys_app, name="keys")
    app.add_typer(policy_app, name="policy")
    app.add_typer(contrib_app, name="contrib")
    app.add_typer(interest_app, name="interest")
    app.add_typer(account_app, name="account")
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(bank_app, name="bank")
    app.add_typer(pension_app, name="pension")
    app.add_typer(payroll_app, name="payroll")
    app.add_typer(ivr_app, name="ivr")
    app.add_typer(stats_app, name="stats")
    app.add_typer(projection_app, name="projection")
    app.add_typer(supervision_app, name="supervision")
