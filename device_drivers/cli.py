"""``xnb card …``: run the virtual card deck against vpcd, control it, read a real card.

Importing this module does not import pyscard; ``read`` imports the PC/SC driver when run.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import Annotated, Final

import typer

from device_drivers.card_emulator import DEFAULT_DECK_DIR, VPCD_PORT, CardDeck

CONTROL_PORT: Final = 35999

card_app = typer.Typer(help="社保卡：虚拟卡与读卡器", no_args_is_help=True)

DeckOption = Annotated[
    Path, typer.Option("--deck", help="card state directory (one file per card)")
]
ControlPortOption = Annotated[int, typer.Option(help="control port on 127.0.0.1")]


def _control_server(deck: CardDeck, port: int) -> socketserver.ThreadingTCPServer:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for raw in self.rfile:
                reply = deck.handle_command(raw.decode("utf-8", "replace"))
                self.wfile.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="card-control", daemon=True).start()
    return server


def _read_stdin(deck: CardDeck, stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip().lower() in ("quit", "exit"):
            stop.set()
            return
        if line.strip():
            print(json.dumps(deck.handle_command(line), ensure_ascii=False), flush=True)


@card_app.command("emulate")
def emulate(
    deck_dir: DeckOption = DEFAULT_DECK_DIR,
    insert: Annotated[str | None, typer.Option(help="card label to insert at start")] = None,
    slots: Annotated[int, typer.Option(min=1, max=2, help="vpcd slots to serve")] = 1,
    vpcd_port: Annotated[int, typer.Option(help="vpcd port of slot 0")] = VPCD_PORT,
    control_port: ControlPortOption = CONTROL_PORT,
    demo: Annotated[bool, typer.Option(help="add the demo cards if missing")] = True,
) -> None:
    """Serve the card deck to vpcd until stopped; control it from stdin or the port.

    Commands: ``list``, ``insert LABEL [SLOT]``, ``remove [SLOT]``, ``quit``.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    deck = CardDeck(deck_dir, port=vpcd_port, slots=slots)
    if demo:
        deck.add_demo_cards()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = _control_server(deck, control_port)
    if insert:
        print(json.dumps(deck.handle_command(f"insert {insert}"), ensure_ascii=False), flush=True)
    threading.Thread(target=_read_stdin, args=(deck, stop), daemon=True).start()
    print(
        f"virtual card deck {deck_dir} on vpcd port {vpcd_port}; control 127.0.0.1:{control_port}",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        server.shutdown()
        deck.close()


def _send(command: str, port: int) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(command.encode() + b"\n")
            reply = sock.makefile("rb").readline()
    except OSError as exc:
        typer.echo(
            f"127.0.0.1:{port} 上没有运行的虚拟卡或演示设备"
            f"（先运行 xnb demo 或 xnb card emulate）：{exc}",
            err=True,
        )
        raise typer.Exit(2) from exc
    typer.echo(reply.decode().strip())
    if not json.loads(reply).get("ok"):
        raise typer.Exit(1)


@card_app.command("list")
def list_cards(control_port: ControlPortOption = CONTROL_PORT) -> None:
    """List the running emulator's cards and where they are."""
    _send("list", control_port)


@card_app.command("insert")
def insert_card(
    label: str,
    slot: Annotated[int, typer.Option(help="vpcd slot")] = 0,
    control_port: ControlPortOption = CONTROL_PORT,
) -> None:
    """Insert a card of the running emulator into a vpcd slot."""
    _send(f"insert {label} {slot}", control_port)


@card_app.command("remove")
def remove_card(
    slot: Annotated[int, typer.Option(help="vpcd slot")] = 0,
    control_port: ControlPortOption = CONTROL_PORT,
) -> None:
    """Remove the card from a vpcd slot of the running emulator."""
    _send(f"remove {slot}", control_port)


idcard_app = typer.Typer(help="身份证：演示工作台的模拟身份证阅读器", no_args_is_help=True)


@idcard_app.command("list")
def list_id_cards(control_port: ControlPortOption = CONTROL_PORT) -> None:
    """The demo's ID cards and the one on the scanner."""
    _send("idcard list", control_port)


@idcard_app.command("place")
def place_id_card(
    label: Annotated[str, typer.Argument(help="身份证标签，如 pensioner-1")],
    control_port: ControlPortOption = CONTROL_PORT,
) -> None:
    """Put an ID card of the demo on the scanner of the demo's counter agent."""
    _send(f"idcard place {label}", control_port)


@idcard_app.command("lift")
def lift_id_card(control_port: ControlPortOption = CONTROL_PORT) -> None:
    """Take the ID card off the scanner."""
    _send("idcard lift", control_port)


@card_app.command("read")
def read(
    reader: Annotated[str | None, typer.Option(help="part of the reader name")] = None,
    demo_keys: Annotated[
        bool, typer.Option(help="use the public DEMO keys for generation-3 holder data")
    ] = False,
) -> None:
    """Read EF05 and EF06 from the card in a PC/SC reader and print them as JSON."""
    from card_services import MasterKeyVerifier
    from card_services.demo import DEMO_MASTER_KEYS
    from device_drivers.card_reader import ReaderError, open_pcsc_reader, read_card

    verifier = MasterKeyVerifier(DEMO_MASTER_KEYS) if demo_keys else None
    try:
        driver = open_pcsc_reader()
        with driver.connect(name=reader) as connection:
            basic, holder = read_card(connection, verifier=verifier)
            atr = connection.atr
    except ReaderError as exc:
        typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False), err=True)
        raise typer.Exit(1) from exc
    result = {
        "reader": connection.reader,
        "atr": atr.hex(" ").upper(),
        "ef05": {
            "identification_code": basic.identification_code.hex().upper(),
            "card_type": basic.card_type,
            "spec_version": basic.spec_version,
            "initialising_org": basic.initialising_org,
            "issue_date": basic.issue_date.isoformat(),
            "expiry_date": basic.expiry_date.isoformat(),
            "card_number": basic.card_number,
        },
        "ef06": {
            "social_security_number": holder.social_security_number,
            "name": holder.name,
            "gender": holder.gender,
            "ethnicity": holder.ethnicity,
            "birthplace": holder.birthplace,
            "birth_date": holder.birth_date.isoformat(),
        },
    }
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1))


@card_app.command("personalise")
def personalise(
    card_number: Annotated[str, typer.Argument(help="卡面印制的卡号")],
    backend: Annotated[str, typer.Option(help="后端地址")] = "http://127.0.0.1:8000",
    token: Annotated[str, typer.Option(envvar="XNB_TOKEN", help="制卡中心操作员的会话令牌")] = "",
    reader: Annotated[str | None, typer.Option(help="part of the reader name")] = None,
) -> None:
    """Personalise the blank card in the reader (card centre): script from the backend."""
    import httpx

    from device_drivers.card_reader import ReaderError, open_pcsc_reader
    from device_drivers.personalise_station import PersonalisationStation, StationError

    headers = {"Authorization": f"Bearer {token}", "X-XNB-Device": "personalise-station"}
    with httpx.Client(base_url=backend, headers=headers, timeout=30) as http:
        station = PersonalisationStation(http=http, reader=open_pcsc_reader(), reader_name=reader)
        try:
            result = station.personalise(station.card_id_for(card_number))
        except (StationError, ReaderError) as exc:
            typer.echo(f"个人化未进行：{exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(json.dumps(result.__dict__, ensure_ascii=False))
    if not result.verified:
        raise typer.Exit(1)
