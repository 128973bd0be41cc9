"""The composition root: ``bootstrap(config)`` chooses real or simulated devices and wires
them, the backend link and the outbox into one :class:`Agent`.

Nothing else in the agent decides which driver to use. Tests and the demo call the
same root with a configuration naming simulators.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import card_services
from card_services import VirtualCard
from card_services.demo import DEMO_MASTER_KEYS, demo_personalised_card
from device_drivers.card_reader import CardReaderDriver, SimulatedCardReader, open_pcsc_reader
from device_drivers.face import FaceOutcome, FaceSimulator
from device_drivers.id_scanner import (
    IdCard,
    IdScanner,
    PtyScannerSimulator,
    ScannerSimulator,
    synthetic_deck,
)
from device_drivers.printer import CapturePrinter, PrinterError, ReceiptPrinter
from firmware_profiles import face_profile, printer_profile, scanner_profile
from terminal_agent import __version__
from terminal_agent.backend_client import BackendLink
from terminal_agent.card_keys import BackendCardVerifier
from terminal_agent.config import AgentConfig
from terminal_agent.devices import (
    CardReaderDevice,
    Device,
    FaceDevice,
    IdScannerDevice,
    PrinterDevice,
)
from terminal_agent.events import EventBus
from terminal_agent.outbox import BackendAnswer, BackendUnreachableError, Outbox
from terminal_agent.printing import PrintRequest, build_receipt, sign_body
from terminal_agent.sessions import AgentSession, AgentSessions, SessionKind, write_private

log = logging.getLogger(__name__)
#: How many answers to page requests with an Idempotency-Key the agent remembers.
_REMEMBERED_ANSWERS = 200


class AgentProblem(Exception):
    """A refusal of the agent itself (not a device's): bad request, backend refusal."""

    def __init__(
        self, code: str, detail: str, *, status: int = 400, retriable: bool = False, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status
        self.retriable = retriable
        self.extra = extra

    def to_dict(self) -> dict[str, object]:
        """What the local API returns."""
        return {"code": self.code, "retriable": self.retriable, "detail": str(self), **self.extra}


class Agent:
    """One workstation's devices, backend link and outbox."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        bus: EventBus,
        link: BackendLink,
        outbox: Outbox,
        devices: dict[str, Device],
        resources: ExitStack,
        capture: CapturePrinter | None = None,
        scanner_simulator: ScannerSimulator | None = None,
        face_simulator: FaceSimulator | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.link = link
        self.outbox = outbox
        self.devices = devices
        # The simulators bootstrap started, for tests and the demo to drive.
        self.capture = capture
        self.scanner_simulator = scanner_simulator
        self.face_simulator = face_simulator
        self.started_at = dt.datetime.now(dt.UTC)
        self._resources = resources
        # Whose session each token the pages passed on is (by the token's hash), learnt from
        # the backend while it answers: operations queued offline keep their operator.
        self._operators: dict[str, str] = {}
        # First answers to page requests by their Idempotency-Key: a retried print or kiosk
        # certification returns what the first did, and prints nothing more.
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._answers_lock = threading.Lock()
        # The pages' sessions on the local API (the kiosk page's opened at start).
        self.sessions = AgentSessions()
        self.kiosk_launch_url: str | None = None
        self._stop = threading.Event()
        self._replayer = threading.Thread(target=self._replay_loop, name="outbox", daemon=True)
        self._prober = threading.Thread(target=self._probe_loop, name="backend-probe", daemon=True)

    def start(self) -> None:
        """Start watching devices and replaying the outbox; on a kiosk, open the kiosk
        page's session and write its launch address (``terminal_agent.sessions``)."""
        if self.config.kiosk.enabled:
            secret = self.sessions.open(AgentSession(SessionKind.KIOSK))
            self.kiosk_launch_url = f"http://127.0.0.1:{self.config.port}/kiosk/#session={secret}"
            write_private(self.config.kiosk.launch_file, self.kiosk_launch_url + "\n")
        for device in self.devices.values():
            device.start()
        self._replayer.start()
        self._prober.start()

    def close(self) -> None:
        """Stop every thread and release every device and file."""
        self._stop.set()
        for device in self.devices.values():
            device.stop()
        for thread in (self._replayer, self._prober):
            if thread.is_alive():
                thread.join(timeout=10)
        self.link.close()
        self.outbox.close()
        self._resources.close()

    def device(self, name: str) -> Any:
        """A configured device, or a 503 problem naming the missing one."""
        device = self.devices.get(name)
        if device is None:
            raise AgentProblem("device_not_configured", f"本机未配置设备 {name}", status=503)
        return device

    def _replay_loop(self) -> None:
        while not self._stop.wait(self.config.outbox.replay_interval_seconds):
            # A refused session token is forgotten (Outbox.replay): a queue waiting for an
            # operator's new log-in stops at once, without asking the backend.
            try:
                sent = self.outbox.replay(self.link)
            except Exception:
                log.exception("outbox replay failed; trying again later")
                continue
            if sent:
                self.bus.publish("outbox.replayed", count=sent, pending=self.outbox.counts())

    def _probe_loop(self) -> None:
        # The first probe right away, then every few seconds: /v1/status reads the result.
        while True:
            try:
                self.link.probe()
            except Exception:
                log.exception("backend probe failed; probing again later")
            if self._stop.wait(self.config.backend_probe_seconds):
                return

    def status(self) -> dict[str, Any]:
        """Agent version, backend reachability, every device's state, the outbox."""
        return {
            "agent": {
                "version": __version__,
                "device_id": self.config.device_id,
                "started_at": self.started_at.isoformat(),
            },
            "backend": {"url": self.config.backend_url, **self.link.state()},
            "devices": {name: device.status() for name, device in self.devices.items()},
            "outbox": {**self.outbox.counts(), "blocked": self.outbox.blocked},
        }

    def operator_of(self, authorization: str | None) -> str | None:
        """The user name behind a session token: remembered, else asked of the backend.

        ``None`` when there is no token, the backend refuses it, or cannot be reached.
        """
        if not authorization:
            return None
        known = self._operators.get(_token_key(authorization))
        if known is not None or self.link.state()["reachable"] is False:
            return known
        try:
            answer = self.link.request("GET", "/api/v1/auth/me", authorization=authorization)
        except BackendUnreachableError:
            return None
        if answer.status != 200:
            return None
        username: str = answer.body["username"]
        self._operators[_token_key(authorization)] = username
        return username

    def register_session(self, *, authorization: str | None) -> dict[str, Any]:
        """The page's operator has logged in: learn who it is from the backend, give the
        page its session secret for the local API (``terminal_agent.sessions``, ending
        with the backend session), and resume the operator's queued work.

        Operations the same operator queued under an expired session are given the new
        token and replayed (same idempotency keys, so still exactly once).
        """
        if not authorization:
            raise AgentProblem("login_required", "缺少操作员会话令牌", status=401)
        answer = self.link.request("GET", "/api/v1/auth/me", authorization=authorization)
        if answer.status != 200:
            raise AgentProblem(
                "login_required",
                f"后台不认可此会话令牌：{_detail(answer)}",
                status=401,
                backend_status=answer.status,
            )
        operator: str = answer.body["username"]
        expires_at = dt.datetime.fromisoformat(answer.body["session_expires_at"])
        self._operators[_token_key(authorization)] = operator
        secret = self.sessions.open(
            AgentSession(SessionKind.OPERATOR, operator=operator, expires_at=expires_at)
        )
        resumed = self.outbox.renew_login(operator=operator, authorization=authorization)
        if resumed:
            log.info("operator %s logged in again: %d queued operations resume", operator, resumed)
            self.outbox.replay(self.link)
        return {
            "operator": operator,
            "resumed": resumed,
            "blocked": self.outbox.blocked,
            "agent_session": secret,
            "expires_at": expires_at.isoformat(),
        }

    def submit(self, operation: str, body: Any, *, authorization: str | None) -> dict[str, Any]:
        """Send one configured operation with a fresh idempotency key.

        Operations allowed offline go through the outbox (stored first, then sent in
        order); others are sent directly and fail with ``backend_unreachable``.
        """
        settings = self.config.operations.get(operation)
        if settings is None:
            raise AgentProblem("unknown_operation", f"未配置的操作 {operation}", status=404)
        key = uuid.uuid4().hex
        if operation not in self.config.outbox.offline_operations:
            answer = self.link.send(
                settings.method,
                settings.path,
                body=body,
                idempotency_key=key,
                authorization=authorization,
            )
            return _answer("sent" if answer.status < 400 else "rejected", key, answer)
        seq = self.outbox.add(
            operation=operation,
            method=settings.method,
            path=settings.path,
            body=body,
            idempotency_key=key,
            authorization=authorization,
            operator=self.operator_of(authorization),
        )
        self.outbox.replay(self.link)
        entry = self.outbox.entry(seq)
        state = "queued" if entry.state == "pending" else entry.state
        answer = BackendAnswer(entry.response_status or 0, entry.response_body)
        return {**_answer(state, key, answer), "seq": seq, "blocked": self.outbox.blocked}

    def authenticate_card(self, *, authorization: str | None) -> dict[str, Any]:
        """Is the card in the reader genuine and usable? Online when the configuration says so.

        Online, the backend's vault checks the card's answer to a single-use challenge and
        its records say whether the card may be used (lost, cancelled …). Only an
        unreachable backend, never a refusal, leads to the local fallback.
        """
        reader: CardReaderDevice = self.device("card_reader")
        mode = self.config.card_reader.authentication
        if mode == "local":
            return {
                **reader.authenticate(self._local_keys()),
                "mode": "local",
                "card_state_checked": False,
            }
        try:
            return self._authenticate_online(reader, authorization)
        except BackendUnreachableError:
            if mode == "online":
                raise
            log.warning("backend unreachable: card authenticated with the local keys only")
        return {
            **reader.authenticate(self._local_keys()),
            "mode": "offline",
            "card_state_checked": False,
            "warning": "后台无法连接：仅在本机核验了卡片真伪，未核对挂失、注销等卡片状态",
        }

    def read_card(self, *, authorization: str | None) -> dict[str, Any]:
        """EF05 and EF06 of the card in the reader; protected holder data (generation 3)
        opens with a cryptogram from the backend's vault, asked with the operator's session."""
        reader: CardReaderDevice = self.device("card_reader")
        if self.config.card_reader.verifier == "demo":
            return reader.read(self._local_keys())
        return reader.read(BackendCardVerifier(self._cryptogram_asker(authorization)))

    def _cryptogram_asker(self, authorization: str | None) -> Callable[[bytes, bytes], bytes]:
        def cryptogram_for(identification_code: bytes, challenge: bytes) -> bytes:
            if not authorization:
                raise AgentProblem(
                    "login_required",
                    "读取社保卡持卡人信息须先登录（由后台密钥系统认证卡片）",
                    status=401,
                )
            answer = self.link.request(
                "POST",
                "/api/v1/cards/external-authentications",
                body={
                    "identification_code": identification_code.hex().upper(),
                    "challenge": challenge.hex().upper(),
                },
                authorization=authorization,
            )
            if answer.status != 200:
                raise _card_refusal(answer)
            return bytes.fromhex(answer.body["cryptogram"])

        return cryptogram_for

    def _local_keys(self) -> card_services.CardVerifier:
        # DEMO keys only (card_services.demo): the virtual and demo cards are made with
        # them; the configuration allows local checks only with verifier = "demo".
        assert self.config.card_reader.verifier == "demo"
        return card_services.MasterKeyVerifier(DEMO_MASTER_KEYS)

    def _authenticate_online(
        self, reader: CardReaderDevice, authorization: str | None
    ) -> dict[str, Any]:
        def challenge_for(identification_code: str) -> tuple[str, bytes]:
            answer = self.link.request(
                "POST",
                "/api/v1/cards/authentications/challenges",
                body={"identification_code": identification_code},
                authorization=authorization,
            )
            if answer.status != 201:
                raise _card_refusal(answer)
            return answer.body["challenge_id"], bytes.fromhex(answer.body["challenge"])

        card = reader.answer_challenge(challenge_for)
        answer = self.link.request(
            "POST",
            "/api/v1/cards/authentications",
            body={"challenge_id": card.challenge_id, "cryptogram": card.cryptogram.hex().upper()},
            authorization=authorization,
        )
        if answer.status != 200:
            raise _card_refusal(answer)
        return {
            "mode": "online",
            "reader": card.reader,
            "genuine": True,
            "may_use": True,
            "card_state_checked": True,
            "generation": answer.body["card"]["generation"],
            "card_number": card.card_number,
            "identification_code": card.identification_code,
            "card": answer.body["card"],
            "holder": answer.body.get("holder"),
        }

    def read_id_card(self) -> dict[str, Any]:
        """Read the ID card on the scanner (its ID number already checked)."""
        card: IdCard = self.device("id_scanner").read()
        return {
            "name": card.name,
            "gender": card.gender,
            "ethnicity": card.ethnicity,
            "birth_date": card.birth_date.isoformat(),
            "address": card.address,
            "id_number": card.id_number,
            "issuing_authority": card.issuing_authority,
            "valid_from": card.valid_from.isoformat(),
            "valid_to": card.valid_to.isoformat() if card.valid_to else None,
            "photo_wlt": base64.b64encode(card.photo_wlt).decode("ascii"),
        }

    def sign_receipt(
        self,
        request: PrintRequest,
        *,
        authorization: str | None,
        idempotency_key: str | None = None,
    ) -> str:
        """Ask the backend to sign the receipt of the request's fact; return the token."""
        body = sign_body(request)
        if body is None:
            raise AgentProblem(
                "fact_required",
                "打印收据须附后台签发的令牌，或指明业务记录（fact_id）由后台签发",
                status=422,
            )
        answer = self.link.send(
            "POST",
            "/api/v1/receipts",
            body=body,
            idempotency_key=f"receipt-{idempotency_key}" if idempotency_key else uuid.uuid4().hex,
            authorization=authorization,
        )
        if answer.status >= 400:
            raise AgentProblem(
                "backend_refused",
                f"后台拒绝签发收据：{_detail(answer)}",
                status=502,
                backend_status=answer.status,
                backend=answer.body,
            )
        token: str = answer.body["token"]
        return token

    def _once(self, scope: str, key: str | None, work: Callable[[], dict[str, Any]]) -> Any:
        """Run ``work`` once per (scope, key); without a key every call runs it."""
        if not key:
            return work()
        if len(key) > 128:
            raise AgentProblem("invalid_input", "Idempotency-Key 不能超过128个字符", status=422)
        remembered = f"{scope}:{key}"
        # One lock for all: a retry waits for the first attempt instead of printing twice.
        with self._answers_lock:
            if remembered in self._answers:
                return self._answers[remembered]
            answer = work()
            self._answers[remembered] = answer
            while len(self._answers) > _REMEMBERED_ANSWERS:
                self._answers.popitem(last=False)
            return answer

    def print_receipt(
        self,
        request: PrintRequest,
        *,
        authorization: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Print a receipt, getting its signed token from the backend when none came with it.

        With an ``idempotency_key`` a retried request returns the first answer and prints
        nothing more; the backend signs under the same key (the same token).
        """
        return self._once(
            "print",
            idempotency_key,
            lambda: self._print(request, authorization=authorization, key=idempotency_key),
        )

    def _print(
        self, request: PrintRequest, *, authorization: str | None, key: str | None
    ) -> dict[str, Any]:
        printer: PrinterDevice = self.device("printer")
        token = request.token or self.sign_receipt(
            request, authorization=authorization, idempotency_key=key
        )
        try:
            receipt = build_receipt(request, token)
        except ValueError as exc:
            raise AgentProblem("receipt_token_mismatch", str(exc), status=422) from exc
        sent = printer.print_receipt(receipt)
        return {"receipt_number": receipt.number, "token": token, "bytes": sent}

    def _kiosk_answer(self, reader: CardReaderDevice) -> Any:
        """The card's answer to a challenge the backend issued to this kiosk."""

        def challenge_for(identification_code: str) -> tuple[str, bytes]:
            answer = self.link.request(
                "POST",
                "/api/v1/benefits/kiosk/challenges",
                body={"identification_code": identification_code},
            )
            if answer.status != 201:
                raise _card_refusal(answer)
            return answer.body["challenge_id"], bytes.fromhex(answer.body["challenge"])

        return reader.answer_challenge(challenge_for)

    def _kiosk_reader(self) -> CardReaderDevice:
        if not self.config.kiosk.enabled:
            raise AgentProblem("kiosk_disabled", "本机不是自助终端", status=404)
        reader: CardReaderDevice = self.device("card_reader")
        return reader

    def kiosk_card(self) -> dict[str, Any]:
        """Kiosk: authenticate the card in the reader online as this kiosk (no operator).

        The backend checks the card's answer, the card's state and that its holder is a
        pensioner of the kiosk's region; the page learns only the masked name and dates.
        """
        reader = self._kiosk_reader()
        card = self._kiosk_answer(reader)
        answer = self.link.request(
            "POST",
            "/api/v1/benefits/kiosk/authentications",
            body={"challenge_id": card.challenge_id, "cryptogram": card.cryptogram.hex().upper()},
        )
        if answer.status != 200:
            raise _card_refusal(answer)
        return {
            "mode": "online",
            "genuine": True,
            "card_number": card.card_number,
            **{k: v for k, v in answer.body.items() if k in _KIOSK_VISIBLE},
        }

    def kiosk_certify(self, *, idempotency_key: str | None) -> dict[str, Any]:
        """Kiosk: read the ID card, let the card answer a fresh challenge, have the backend
        certify the holder when both agree, and print the receipt with the backend's token.

        A retry with the same ``idempotency_key`` returns the first answer. A printer
        failure after the certification is reported with it, never as a failure of it.
        """
        if not idempotency_key:
            raise AgentProblem(
                "idempotency_key_required", "缺少 Idempotency-Key 请求头", status=422
            )
        return self._once("kiosk", idempotency_key, lambda: self._kiosk_certify(idempotency_key))

    def _kiosk_certify(self, key: str) -> dict[str, Any]:
        reader = self._kiosk_reader()
        id_card: IdCard = self.device("id_scanner").read()
        # The resident's face against the ID card photo, when the kiosk has the device; the
        # backend decides (policy) whether a kiosk certification needs it and what counts.
        face = self.devices.get("face")
        comparison = face.compare(id_card.photo_wlt) if isinstance(face, FaceDevice) else None
        card = self._kiosk_answer(reader)
        answer = self.link.send(
            "POST",
            "/api/v1/benefits/kiosk/certifications",
            body={
                "challenge_id": card.challenge_id,
                "cryptogram": card.cryptogram.hex().upper(),
                "id_number": id_card.id_number,
                "face": comparison.to_dict() if comparison else None,
            },
            idempotency_key=key,
            authorization=None,
        )
        if answer.status != 201:
            raise _card_refusal(answer)
        body = answer.body
        certification = body["certification"]
        result: dict[str, Any] = {
            **{k: v for k, v in body.items() if k in _KIOSK_VISIBLE},
            "certified_on": certification["certified_on"],
            "next_due": certification["next_due"],
            "resumed": certification["resumed"],
            "face_outcome": certification["face_outcome"],
            "receipt_number": body["receipt"]["receipt_number"],
            "printed": False,
        }
        request = PrintRequest.model_validate(
            {
                "receipt": {
                    "layout": "survival",
                    "name": body["name"],
                    "id_number": id_card.id_number,
                    "method": "自助终端认证",
                    "valid_until": certification["next_due"],
                },
                "counter": {
                    "office": self.config.kiosk.location,
                    "operator": f"自助终端 {self.config.device_id}"[:60],
                },
                "token": body["receipt"]["token"],
            }
        )
        try:
            self._print(request, authorization=None, key=None)
            result["printed"] = True
        except (PrinterError, AgentProblem) as exc:
            log.warning("kiosk receipt %s not printed: %s", result["receipt_number"], exc)
            result["print_error"] = {
                "code": getattr(exc, "code", "printer_error"),
                "detail": str(exc),
            }
        return result


#: What the kiosk page may show of the backend's answer (never the full name or ID number).
_KIOSK_VISIBLE = ("name_masked", "id_number_masked", "pension_status", "certified_until")


def _detail(answer: BackendAnswer) -> str:
    if isinstance(answer.body, dict):
        return str(answer.body.get("detail") or answer.body.get("title") or answer.status)
    return str(answer.status)


def _token_key(authorization: str) -> str:
    # Keyed by a hash: the map itself holds no token that could be sent to the backend.
    return hashlib.sha256(authorization.encode()).hexdigest()


def _card_refusal(answer: BackendAnswer) -> AgentProblem:
    """The backend's refusal of a card (lost, not genuine, replayed …) under its own code."""
    body = answer.body if isinstance(answer.body, dict) else {}
    extra = {key: body[key] for key in ("authentic", "card_state") if key in body}
    return AgentProblem(
        str(body.get("code") or "backend_refused"),
        f"后台未通过卡片认证：{_detail(answer)}",
        status=answer.status if 400 <= answer.status < 500 else 502,
        backend_status=answer.status,
        **extra,
    )


def _answer(state: str, key: str, answer: BackendAnswer) -> dict[str, Any]:
    return {
        "state": state,
        "idempotency_key": key,
        "backend_status": answer.status or None,
        "response": answer.body,
    }


def _card_reader(config: AgentConfig) -> CardReaderDriver:
    if config.card_reader.kind == "pcsc":
        return open_pcsc_reader()
    simulated = SimulatedCardReader()
    for generation in config.card_reader.simulator_cards:
        state = demo_personalised_card(
            label=f"demo-gen{generation}", generation=generation, serial=generation
        )
        simulated.insert(VirtualCard(state))
    return simulated


def _scanner_opener(
    config: AgentConfig, resources: ExitStack
) -> tuple[Callable[[], IdScanner], ScannerSimulator | None]:
    from device_drivers.id_scanner.serial_port import SerialIdScanner

    settings = config.id_scanner
    profile = scanner_profile(settings.profile)
    port = settings.port
    simulator = None
    if settings.kind == "simulator":
        served = resources.enter_context(PtyScannerSimulator())
        if settings.simulator_card is not None:
            served.simulator.place(synthetic_deck()[settings.simulator_card])
        port, simulator = served.port, served.simulator
    if port is None:
        raise ValueError("id_scanner.port is needed for a serial scanner")
    serial_port = port
    return (
        lambda: SerialIdScanner(serial_port, profile=profile, baudrate=settings.baudrate),
        simulator,
    )


def _printer_opener(
    config: AgentConfig, resources: ExitStack
) -> tuple[Callable[[], ReceiptPrinter], CapturePrinter | None]:
    from device_drivers.printer import escpos_transport as transport

    settings = config.printer
    profile = printer_profile(settings.profile)
    if settings.kind == "capture":
        capture = resources.enter_context(CapturePrinter("127.0.0.1", settings.port))
        host, port = capture.host, capture.port
        return lambda: transport.network_printer(host, port, profile=profile, timeout=2.0), capture
    if settings.kind == "network":
        return (
            lambda: transport.network_printer(
                settings.host, settings.port, profile=profile, timeout=2.0
            ),
            None,
        )
    if settings.kind == "usb":
        if not settings.usb_id:
            raise ValueError("printer.usb_id ('vvvv:pppp') is needed for a USB printer")
        vendor, product = (int(part, 16) for part in settings.usb_id.split(":"))
        return lambda: transport.usb_printer(vendor, product, profile=profile), None
    if settings.kind == "serial":
        if not settings.serial_port:
            raise ValueError("printer.serial_port is needed for a serial printer")
        serial_port = settings.serial_port
        return lambda: transport.serial_printer(serial_port, profile=profile), None
    if settings.path is None:
        raise ValueError("printer.path is needed for a file printer")
    path = settings.path
    return lambda: transport.file_printer(path, profile=profile), None


def bootstrap(config: AgentConfig, *, link: BackendLink | None = None) -> Agent:
    """Build the agent the configuration describes (devices not yet watched: ``start()``)."""
    resources = ExitStack()
    bus = EventBus()
    devices: dict[str, Device] = {}
    capture = scanner_simulator = None
    face_simulator: FaceSimulator | None = None
    try:
        if config.card_reader.kind != "none":
            devices["card_reader"] = CardReaderDevice(
                _card_reader(config),
                bus=bus,
                poll_seconds=config.poll_seconds,
                reader_name=config.card_reader.reader,
            )
        if config.id_scanner.kind != "none":
            scanner_opener, scanner_simulator = _scanner_opener(config, resources)
            devices["id_scanner"] = IdScannerDevice(
                scanner_opener, bus=bus, poll_seconds=config.poll_seconds
            )
        if config.printer.kind != "none":
            opener, capture = _printer_opener(config, resources)
            poll = config.printer.status_poll_seconds
            devices["printer"] = PrinterDevice(
                opener,
                bus=bus,
                poll_seconds=poll or 5.0,
                status_queries=poll > 0 and config.printer.kind != "file",
            )
        if config.face.kind == "simulator":
            face_simulator = FaceSimulator(
                face_profile(config.face.profile),
                outcome=FaceOutcome(config.face.simulator_outcome),
            )
            devices["face"] = FaceDevice(face_simulator, bus=bus, poll_seconds=config.poll_seconds)
        outbox = Outbox(config.outbox.path)
    except BaseException:
        resources.close()
        raise
    link = link or BackendLink(
        config.backend_url,
        device_id=config.device_id,
        tls=config.tls,
        timeout=config.backend_timeout_seconds,
    )
    return Agent(
        config,
        bus=bus,
        link=link,
        outbox=outbox,
        devices=devices,
        resources=resources,
        capture=capture,
        scanner_simulator=scanner_simulator,
        face_simulator=face_simulator,
    )


__all__ = ["Agent", "AgentProblem", "BackendUnreachableError", "bootstrap"]
