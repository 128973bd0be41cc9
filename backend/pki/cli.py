"""Commands of the CA (``xnb ca``) and of certificates (``xnb cert``).

The client's commands (``xnb login``, ``xnb cert request``) live in ``xnb_client.cli``;
``xnb.cli`` mounts them.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.config import get_settings
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.errors import DomainError
from backend.orgs.service import get_office_by_code
from backend.pki import service
from backend.pki.keystore import (
    ALGORITHMS,
    FileKeyStore,
    KeyStore,
    ca_key_store,
    new_private_key,
)

ca_app = typer.Typer(help="证书认证中心（CA）", no_args_is_help=True)
cert_app = typer.Typer(help="证书签发、清单与吊销", no_args_is_help=True)


def _fail(error: DomainError) -> typer.Exit:
    typer.secho(f"错误 [{error.code}]：{error.detail or error.title}", fg="red", err=True)
    for f in error.fields:
        typer.secho(f"  {f.field}: {f.message}", fg="red", err=True)
    return typer.Exit(code=2)


def _factory() -> sessionmaker[Session]:
    return make_session_factory(make_engine(get_settings().database_url))


_ROOT_DIR_HELP = "根CA私钥目录（离线介质）；配置了硬件密码模块时省略则根CA私钥在令牌中"


def _root_keys(session: Session, root_dir: Path | None, passphrase: str | None) -> KeyStore:
    # The root's key: an encrypted file on offline media, or (XNB_KEY_STORE=pkcs11 and no
    # directory given) the HSM token, brought online for the ceremony only.
    if root_dir is not None:
        return FileKeyStore(root_dir, passphrase or getpass.getpass("根CA私钥口令: "))
    settings = get_settings()
    if settings.key_store != "pkcs11":
        raise typer.BadParameter("需要 --root-dir（根CA私钥所在的离线介质）")
    return ca_key_store(session, settings)


@ca_app.command("init")
def ca_init(
    root_dir: Annotated[Path | None, typer.Option(help=_ROOT_DIR_HELP)] = None,
    province: Annotated[str, typer.Option(help="省级区划代码（2位）")] = "65",
    algorithm: Annotated[str, typer.Option(help=f"密钥算法：{', '.join(ALGORITHMS)}")] = "ec-p256",
    root_passphrase: Annotated[
        str | None, typer.Option(help="根CA私钥口令（省略则交互输入）")
    ] = None,
) -> None:
    """The key ceremony: create the root (key to ``root_dir`` or the HSM) and the issuing CA."""
    settings = get_settings()
    try:
        with unit_of_work(_factory()) as session:
            root, issuing = service.init_hierarchy(
                session=session,
                keys=ca_key_store(session, settings),
                root_keys=_root_keys(session, root_dir, root_passphrase),
                settings=settings,
                province_code=province,
                algorithm=algorithm,
                actor=Actor.system(),
            )
            typer.echo(f"根CA {root.serial}，签发CA {issuing.serial}（{algorithm}）已建立")
    except DomainError as e:
        raise _fail(e) from e


@ca_app.command("rotate-issuing")
def ca_rotate_issuing(
    root_dir: Annotated[Path | None, typer.Option(help=_ROOT_DIR_HELP)] = None,
    root_passphrase: Annotated[
        str | None, typer.Option(help="根CA私钥口令（省略则交互输入）")
    ] = None,
) -> None:
    """A new issuing CA under the root; the old one stays valid until ``retire-issuing``."""
    settings = get_settings()
    try:
        with unit_of_work(_factory()) as session:
            row = service.rotate_issuing_ca(
                session=session,
                keys=ca_key_store(session, settings),
                root_keys=_root_keys(session, root_dir, root_passphrase),
                settings=settings,
                actor=Actor.system("key-ceremony"),
            )
            typer.echo(f"新签发CA {row.serial} 已建立；新证书由它签发，旧签发CA仍有效直至停用")
    except DomainError as e:
        raise _fail(e) from e


@ca_app.command("retire-issuing")
def ca_retire_issuing(
    serial: Annotated[str, typer.Argument(help="要停用的旧签发CA序列号")],
) -> None:
    """End the overlap: the old issuing CA leaves the chain and its certificates are refused."""
    try:
        with unit_of_work(_factory()) as session:
            service.retire_issuing_ca(
                session=session, serial=serial, actor=Actor.system("key-ceremony")
            )
        typer.echo(f"签发CA {serial} 已停用；请重新导出证书链（xnb ca export）")
    except DomainError as e:
        raise _fail(e) from e


@ca_app.command("crl")
def ca_crl() -> None:
    """Publish a fresh CRL now (the running backend publishes one by itself once the
    newest has passed half its validity; no cron job needed)."""
    settings = get_settings()
    try:
        with unit_of_work(_factory()) as session:
            keys = ca_key_store(session, settings)
            crl = service.generate_crl(session=session, keys=keys, settings=settings)
            typer.echo(
                f"CRL 第 {crl.number} 号已发布，下次更新 {crl.next_update:%Y-%m-%d %H:%M} UTC"
            )
    except DomainError as e:
        raise _fail(e) from e


@ca_app.command("export")
def ca_export(
    out: Annotated[Path, typer.Option(help="输出文件")] = Path("var/tls/ca-chain.pem"),
) -> None:
    """Write the CA chain (issuing CA, then root) that clients and the server trust."""
    with unit_of_work(_factory()) as session:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(service.chain_pem(session=session))
    typer.echo(f"CA证书链已写入 {out}")


@ca_app.command("server-cert")
def ca_server_cert(
    host: Annotated[list[str], typer.Option(help="主机名或IP地址（可重复）")],
    out_dir: Annotated[Path, typer.Option(help="输出目录")] = Path("var/tls"),
) -> None:
    """Issue the backend's TLS certificate; the key is encrypted under the CA passphrase."""
    settings = get_settings()
    key = new_private_key("ec-p256")
    try:
        with unit_of_work(_factory()) as session:
            keys = ca_key_store(session, settings)
            row = service.issue_server_certificate(
                session=session,
                keys=keys,
                settings=settings,
                hosts=host,
                public_key=key.public_key(),
                actor=Actor.system(),
            )
            chain = service.chain_pem(session=session)
    except DomainError as e:
        raise _fail(e) from e
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "server.pem").write_text(row.pem + chain)
    (out_dir / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(
                settings.pki_passphrase.get_secret_value().encode()
            ),
        )
    )
    (out_dir / "server.key").chmod(0o600)
    (out_dir / "ca-chain.pem").write_text(chain)
    typer.echo(f"服务器证书 {row.serial} 已写入 {out_dir}（server.pem, server.key, ca-chain.pem）")


@cert_app.command("list")
def cert_list(
    q: Annotated[str | None, typer.Option(help="主体、持有者或序列号")] = None,
    profile: Annotated[str | None, typer.Option(help="证书规范")] = None,
    state: Annotated[str | None, typer.Option(help="valid 或 revoked")] = None,
    expiring_days: Annotated[int | None, typer.Option(help="只列出N天内到期的")] = None,
) -> None:
    """The inventory, or the expiring-soon report with ``--expiring-days``."""
    with unit_of_work(_factory()) as session:
        total, rows = service.search(
            session=session,
            principal=None,
            text=q,
            profile=profile,
            state=state,
            expiring_within_days=expiring_days,
            limit=500,
        )
        for r in rows:
            typer.echo(
                f"{r.serial:<42} {r.profile:<11} {r.state:<8} {r.not_after:%Y-%m-%d} {r.holder}"
            )
    typer.echo(f"共 {total} 张")


@cert_app.command("revoke")
def cert_revoke(
    serial: str,
    reason: Annotated[str, typer.Option(help=f"原因：{', '.join(service.REVOCATION_REASONS)}")],
) -> None:
    """Revoke a certificate and republish the CRL."""
    settings = get_settings()
    try:
        with unit_of_work(_factory()) as session:
            keys = ca_key_store(session, settings)
            row = service.get_certificate(session=session, principal=None, serial=serial)
            service.revoke(
                session=session,
                keys=keys,
                settings=settings,
                certificate=row,
                reason=reason,
                actor=Actor.system(),
            )
        typer.echo(f"证书 {serial} 已吊销（{reason}），CRL 已更新")
    except DomainError as e:
        raise _fail(e) from e


@cert_app.command("device")
def cert_device(
    name: str,
    office: Annotated[str, typer.Option(help="经办机构编号")],
    kind: Annotated[str, typer.Option(help="workstation | kiosk | card_centre")] = "workstation",
    valid_hours: Annotated[int, typer.Option(help="令牌有效小时数")] = 24,
) -> None:
    """Register a device (if new) and print a one-time enrolment token for it."""
    from sqlalchemy import select

    from backend.pki.models import Device

    try:
        with unit_of_work(_factory()) as session:
            device = session.scalar(select(Device).where(Device.name == name))
            if device is None:
                device = service.register_device(
                    session=session,
                    principal=None,
                    name=name,
                    kind=kind,
                    office_id=get_office_by_code(session=session, code=office).id,
                    actor=Actor.system(),
                )
            row, token = service.issue_enrolment_token(
                session=session,
                principal=None,
                device_id=device.id,
                valid_hours=valid_hours,
                actor=Actor.system(),
            )
        typer.echo(f"设备 {name} 的一次性注册令牌（{row.expires_at:%Y-%m-%d %H:%M} UTC 前有效）：")
        typer.echo(token)
    except DomainError as e:
        raise _fail(e) from e


def register(app: typer.Typer) -> None:
    """Mount ``xnb ca`` and ``xnb cert``."""
    app.add_typer(ca_app, name="ca")
    app.add_typer(cert_app, name="cert")
