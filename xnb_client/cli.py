"""The client's commands, mounted by ``xnb.cli``: ``xnb login`` and ``xnb cert request``.

Like the rest of this package they import nothing of ours and reach the backend only
over HTTP(S); the CA's own commands (``xnb ca``, the rest of ``xnb cert``) stay in
``backend.pki.cli``.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from xnb_client.client import BackendClient, BackendError
from xnb_client.keys import load_private_key, make_csr, new_private_key, private_key_pem


def cert_request(
    common_name: Annotated[str, typer.Option(help="CN：操作员用户名、设备名或银行代码")],
    key_out: Annotated[Path, typer.Option(help="私钥输出文件（PKCS#8，加密）")],
    csr_out: Annotated[Path, typer.Option(help="CSR 输出文件")],
    algorithm: Annotated[str, typer.Option(help="ec-p256, rsa-2048, rsa-3072")] = "ec-p256",
    passphrase: Annotated[str | None, typer.Option(help="私钥口令（省略则交互输入）")] = None,
) -> None:
    """Client side: a new key and a CSR to hand to the security administrator or to enrol."""
    key = new_private_key(algorithm)
    secret = passphrase or getpass.getpass("私钥口令: ")
    key_out.write_bytes(private_key_pem(key, secret))
    key_out.chmod(0o600)
    csr_out.write_text(make_csr(key, common_name=common_name))
    typer.echo(f"私钥 {key_out}，证书请求 {csr_out}")


def login(
    url: Annotated[str, typer.Option(help="后端地址，如 https://127.0.0.1:8443")],
    username: Annotated[str, typer.Option(help="用户名")],
    cert: Annotated[Path, typer.Option(help="操作员证书 PEM")],
    key: Annotated[Path, typer.Option(help="操作员私钥 PEM")],
    ca_file: Annotated[Path | None, typer.Option(help="CA证书链 PEM")] = None,
    device_cert: Annotated[Path | None, typer.Option(help="终端设备证书 PEM（双向TLS）")] = None,
    device_key: Annotated[Path | None, typer.Option(help="终端设备私钥 PEM")] = None,
    key_password: Annotated[str | None, typer.Option(help="操作员私钥口令")] = None,
    password: Annotated[str | None, typer.Option(help="登录口令（省略则交互输入）")] = None,
) -> None:
    """Two-factor log-in: password plus a signature of the server's challenge; prints the token."""
    secret = password or getpass.getpass("口令: ")
    operator_key = load_private_key(key.read_bytes(), key_password)
    try:
        with BackendClient(
            url, ca_file=ca_file, client_cert=device_cert, client_key=device_key
        ) as client:
            session = client.login(
                username=username,
                password=secret,
                certificate_pem=cert.read_bytes(),
                private_key=operator_key,
            )
    except BackendError as e:
        typer.secho(f"登录失败 [{e.code}]：{e.detail}", fg="red", err=True)
        raise typer.Exit(code=2) from e
    typer.echo(f"已登录（{'+'.join(session.factors)}），有效至 {session.expires_at:%H:%M} UTC")
    typer.echo(session.token)
