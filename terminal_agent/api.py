"""The local API on 127.0.0.1: devices for the counter page, events over a WebSocket.

Who may call it (:class:`LocalGuard`, for HTTP and WebSocket alike; the secrets are
explained in :mod:`terminal_agent.sessions`):

* the ``Host`` header must name the loopback address (a DNS-rebinding page is refused);
* a request with an ``Origin`` must come from the configured page origin (the backend's)
  or, on a kiosk, the agent's own; any other origin is refused (403 ``origin_refused``),
  whatever else it sends. An allowed origin gets the CORS headers, refusals included, and
  nothing more: headers prove nothing about the caller, so an allowed origin opens no
  route by itself;
* every route except ``POST /v1/session`` (which needs the operator's backend session)
  and the kiosk page's static files needs a secret: the page's session secret
  (``X-XNB-Agent-Session``, or the ``xnb-session.<secret>`` WebSocket subprotocol) or the
  pairing token (``X-XNB-Pairing-Token``), else 401 ``agent_session_required``. An
  operator's session opens every route but the kiosk's (403 ``kiosk_page_only``); the
  kiosk page's session opens only the kiosk's routes, the status, the readers and the
  events (403 ``kiosk_session_limited``); the pairing token opens all.

Errors are ``application/problem+json`` with the drivers' stable codes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device_drivers.card_reader import ReaderError
from device_drivers.face import FaceDeviceError
from device_drivers.id_scanner import IdScannerError
from device_drivers.printer import PrinterError
from terminal_agent import __version__
from terminal_agent.agent import Agent, AgentProblem
from terminal_agent.outbox import BackendUnreachableError, OutboxError
from terminal_agent.pin_reset import PinResetRequest, pin_entry_of, reset_pin
from terminal_agent.printing import PrintRequest
from terminal_agent.sessions import (
    EVENTS_PROTOCOL,
    PAIRED,
    SESSION_HEADER,
    SESSION_PROTOCOL_PREFIX,
    AgentSession,
    AgentSessions,
    SessionKind,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
PAIRING_HEADER = "x-xnb-pairing-token"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
_ALLOWED_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, X-XNB-Pairing-Token, X-XNB-Agent-Session"
)
#: The kiosk page's static files (served only when the kiosk mode is on).
KIOSK_PAGE_DIR = Path(__file__).parent / "kiosk"
_KIOSK_PAGE = "/kiosk/"
_KIOSK_API = "/v1/kiosk/"

#: Error code → HTTP status; anything else: 409 when retriable, 422 when not.
_STATUS: dict[str, int] = {
    "no_reader": 503,
    "service_not_running": 503,
    "scanner_unavailable": 503,
    "printer_unavailable": 503,
    "backend_unreachable": 503,
    "face_device_unavailable": 503,
    "scanner_timeout": 504,
    "reader_error": 500,
}
_TITLES: dict[str, str] = {
    "no_reader": "未连接读卡器",
    "service_not_running": "智能卡服务未运行",
    "no_card": "读卡器中没有卡",
    "card_removed": "卡片已被拔出",
    "unsupported_card": "不是可识别的社保卡",
    "card_not_genuine": "卡片认证失败",
    "card_lost": "此卡已挂失",
    "card_unknown": "不是本省签发的社保卡",
    "challenge_used": "认证应答被重放，已拒绝",
    "scanner_unavailable": "身份证阅读器未连接",
    "no_id_card": "请放置身份证",
    "printer_unavailable": "打印机未连接",
    "printer_disconnected": "打印中断，请重新打印",
    "paper_out": "打印纸已用完",
    "backend_unreachable": "后台服务无法连接",
    "origin_refused": "来源页面不被允许",
    "host_refused": "只接受本机地址",
    "login_required": "请操作员重新登录",
    "kiosk_disabled": "本机不是自助终端",
    "agent_session_required": "需要本机会话",
    "kiosk_page_only": "只有本机的自助页面可以调用",
    "kiosk_session_limited": "自助页面不能调用此接口",
    "id_mismatch": "身份证与社保卡不是同一人",
    "pension_not_found": "没有养老金待遇",
    "face_device_unavailable": "人脸识别设备未连接",
    "no_face": "未检测到人脸",
    "face_no_match": "人脸与身份证照片不一致",
    "face_liveness_failed": "未通过活体检测",
    "face_required": "须进行人脸核验",
}


def problem(code: str, detail: str, *, status: int, **extra: Any) -> JSONResponse:
    """A problem+json response with a stable ``code``."""
    body = {
        "type": f"urn:xnb:agent:{code}",
        "title": _TITLES.get(code, "操作失败"),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _error_response(error: Any) -> JSONResponse:
    body = dict(error.to_dict())
    code = str(body.pop("code"))
    detail = str(body.pop("detail", "")) or code
    status = getattr(error, "status", None)
    if not isinstance(status, int) or isinstance(error, IdScannerError):
        status = _STATUS.get(code, 409 if body.get("retriable") else 422)
    if isinstance(error, IdScannerError):
        body["scanner_status"] = body.pop("status", None)
    return problem(code, detail, status=status, **body)


#: Routes open without a secret: registering an operator's session (the backend checks
#: the operator's token) and, on a kiosk, the kiosk page's static files.
_PUBLIC_ROUTES = frozenset({("POST", "/v1/session")})
#: What the kiosk page's session opens besides ``/v1/kiosk/…``.
_KIOSK_SESSION_ROUTES = frozenset(
    {("GET", "/v1/status"), ("GET", "/v1/readers"), ("WEBSOCKET", "/v1/events")}
)


def route_key(scope: Scope) -> tuple[str, str]:
    """(method, path) of a request; a WebSocket's method is ``WEBSOCKET``, HEAD is GET."""
    method = "WEBSOCKET" if scope["type"] == "websocket" else str(scope["method"])
    return ("GET" if method == "HEAD" else method), str(scope.get("path", ""))


def offered_session(headers: Headers) -> str | None:
    """The page's session secret: its header, or the WebSocket subprotocol carrying it."""
    secret = headers.get(SESSION_HEADER)
    if secret is None:
        for protocol in headers.get("sec-websocket-protocol", "").split(","):
            if protocol.strip().startswith(SESSION_PROTOCOL_PREFIX):
                return protocol.strip()[len(SESSION_PROTOCOL_PREFIX) :]
    return secret


class LocalGuard:
    """ASGI middleware: loopback Host, an allowed origin (CORS), and a secret (module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origin: str,
        pairing_token: str | None,
        sessions: AgentSessions,
        own_origins: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.origin = origin
        self.pairing_token = pairing_token
        self.sessions = sessions
        # The agent's own origins (its kiosk page); empty unless the kiosk mode is on.
        self.own_origins = own_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through, answer a preflight, or refuse it."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if urlsplit("//" + headers.get("host", "")).hostname not in _LOOPBACK_NAMES:
            await self._refuse(
                scope, receive, send, "host_refused", "只接受发往本机地址的请求", 403
            )
            return
        method, path = route_key(scope)
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.rstrip("/")
            if origin != self.origin and origin not in self.own_origins:
                log.warning("refused %s from origin %s", path, origin)
                await self._refuse(
                    scope, receive, send, "origin_refused", f"页面来源 {origin} 不被允许", 403
                )
                return
            if method == "OPTIONS":
                await self._preflight(send, origin)
                return
            if scope["type"] == "http":
                send = self._with_cors(send, origin)
        if (method, path) in _PUBLIC_ROUTES or self._kiosk_page_file(method, path):
            await self.app(scope, receive, send)
            return
        session = self._session(headers)
        refusal = self._refusal(session, method, path)
        if refusal is not None:
            code, detail, status = refusal
            log.warning("refused %s %s: %s", method, path, code)
            await self._refuse(scope, receive, send, code, detail, status)
            return
        await self.app(scope, receive, send)

    def _kiosk_page_file(self, method: str, path: str) -> bool:
        # The kiosk page's own files: public content, fetched by the kiosk's browser.
        return bool(self.own_origins) and (
            method == "GET" and (path == _KIOSK_PAGE.rstrip("/") or path.startswith(_KIOSK_PAGE))
        )

    def _session(self, headers: Headers) -> AgentSession | None:
        presented = headers.get(PAIRING_HEADER)
        if presented is not None:
            if self.pairing_token and hmac.compare_digest(
                presented.encode(), self.pairing_token.encode()
            ):
                return PAIRED
            return None
        secret = offered_session(headers)
        return self.sessions.find(secret) if secret else None

    @staticmethod
    def _refusal(
        session: AgentSession | None, method: str, path: str
    ) -> tuple[str, str, int] | None:
        if session is None:
            return (
                "agent_session_required",
                "须提供本机会话密钥（操作员登录后由终端代理发放）或配对令牌；"
                "Origin 等请求头不能证明调用者",
                401,
            )
        kiosk_route = path.startswith(_KIOSK_API)
        if session.kind is SessionKind.OPERATOR and kiosk_route:
            return "kiosk_page_only", "自助认证只能由本机自助页面发起", 403
        if (
            session.kind is SessionKind.KIOSK
            and not kiosk_route
            and (method, path) not in _KIOSK_SESSION_ROUTES
        ):
            return "kiosk_session_limited", "自助页面的会话不能调用此接口", 403
        return None

    def _cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"vary", b"Origin"),
        ]

    def _with_cors(self, send: Send, origin: str) -> Send:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                cors = self._cors_headers(origin)
                message = {**message, "headers": [*message["headers"], *cors]}
            await send(message)

        return send_with_cors

    async def _preflight(self, send: Send, origin: str) -> None:
        headers = [
            *self._cors_headers(origin),
            (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
            (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
            # Chrome asks before a public page may call a loopback address.
            (b"access-control-allow-private-network", b"true"),
            (b"access-control-max-age", b"600"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, code: str, detail: str, status: int
    ) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": code})
            return
        await problem(code, detail, status=status)(scope, receive, send)


Authorization = Annotated[str | None, Header(description="操作员会话令牌（转发给后台）")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="页面生成的幂等键：重试返回首次结果，不再重复打印"),
]


def create_api(agent: Agent) -> FastAPI:
    """The local API of ``agent``, guarded for the configured page origin and pairing token."""
    app = FastAPI(title="xnb 终端代理本机接口", version=__version__)
    config = agent.config
    pairing = config.pairing_token.get_secret_value() if config.pairing_token else None

    @app.exception_handler(ReaderError)
    @app.exception_handler(IdScannerError)
    @app.exception_handler(PrinterError)
    @app.exception_handler(FaceDeviceError)
    @app.exception_handler(OutboxError)
    @app.exception_handler(BackendUnreachableError)
    @app.exception_handler(AgentProblem)
    async def device_error(_request: Request, exc: Exception) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        return problem("invalid_input", "请求数据有误", status=422, errors=errors)

    @app.get("/v1/status", summary="代理版本、后台连通性、各设备状态")
    def status() -> dict[str, Any]:
        return agent.status()

    @app.get("/v1/readers", summary="读卡器列表")
    def readers() -> dict[str, Any]:
        return {"readers": agent.device("card_reader").readers()}

    @app.post("/v1/card/read", summary="读社保卡基本信息与持卡人信息")
    def card_read(authorization: Authorization = None) -> dict[str, Any]:
        return agent.read_card(authorization=authorization)

    @app.post("/v1/card/authenticate", summary="社保卡认证（后台在线核验，或按配置本机核验）")
    def card_authenticate(authorization: Authorization = None) -> dict[str, Any]:
        return agent.authenticate_card(authorization=authorization)

    @app.post("/v1/idcard/read", summary="读居民身份证")
    def idcard_read() -> dict[str, Any]:
        return agent.read_id_card()

    @app.get("/v1/card/pin-entry", summary="新密码由谁输入：读卡器密码键盘或页面")
    def card_pin_entry() -> dict[str, Any]:
        return {"entry": pin_entry_of(agent)}

    @app.post("/v1/card/pin-reset", summary="柜面重置社保卡密码（后台解锁指令写入卡片并验证）")
    def card_pin_reset(
        body: PinResetRequest, authorization: Authorization = None, key: IdempotencyKey = None
    ) -> dict[str, Any]:
        return reset_pin(agent, body, authorization=authorization, idempotency_key=key)

    @app.post("/v1/print/receipt", summary="打印收据（含签名令牌二维码）")
    def print_receipt(
        body: PrintRequest, authorization: Authorization = None, key: IdempotencyKey = None
    ) -> dict[str, Any]:
        return agent.print_receipt(body, authorization=authorization, idempotency_key=key)

    @app.post("/v1/kiosk/card", summary="自助终端：社保卡在线认证（以本终端身份）")
    def kiosk_card() -> dict[str, Any]:
        return agent.kiosk_card()

    @app.post("/v1/kiosk/certify", summary="自助终端：读身份证、核对社保卡并办理资格认证、打印回执")
    def kiosk_certify(key: IdempotencyKey = None) -> dict[str, Any]:
        return agent.kiosk_certify(idempotency_key=key)

    @app.post("/v1/operations/{operation}", summary="提交业务操作（离线时进入离线队列）")
    def submit(
        operation: str, body: dict[str, Any], authorization: Authorization = None
    ) -> dict[str, Any]:
        return agent.submit(operation, body, authorization=authorization)

    @app.post(
        "/v1/session", summary="操作员已登录：后台确认其会话后发放本机会话密钥，恢复其离线队列"
    )
    def session(authorization: Authorization = None) -> dict[str, Any]:
        return agent.register_session(authorization=authorization)

    @app.delete("/v1/session", status_code=204, summary="操作员退出：结束本机会话")
    def end_session(request: Request) -> Response:
        secret = offered_session(request.headers)
        if secret:
            agent.sessions.close(secret)
        return Response(status_code=204)

    @app.get("/v1/outbox", summary="离线队列")
    def outbox(state: str | None = None) -> dict[str, Any]:
        entries = agent.outbox.entries(state=state)
        return {
            "counts": agent.outbox.counts(),
            "blocked": agent.outbox.blocked,
            "entries": [e.to_dict() for e in entries],
        }

    @app.websocket("/v1/events")
    async def events(socket: WebSocket) -> None:
        # A page offers the events protocol beside the one carrying its secret; the
        # answer names only the former (a local program offers none).
        offered = socket.scope.get("subprotocols", [])
        await socket.accept(subprotocol=EVENTS_PROTOCOL if EVENTS_PROTOCOL in offered else None)
        loop, queue = agent.bus.subscribe()

        async def forward() -> None:
            while True:
                await socket.send_json(await queue.get())

        try:
            await socket.send_json({"type": "hello", "devices": _states(agent)})
            forwarder = asyncio.ensure_future(forward())
            try:
                while (await socket.receive())["type"] != "websocket.disconnect":
                    continue
            finally:
                forwarder.cancel()
        except WebSocketDisconnect:
            return
        finally:
            agent.bus.unsubscribe(loop, queue)

    if config.kiosk.enabled:
        app.mount("/kiosk", StaticFiles(directory=KIOSK_PAGE_DIR, html=True), name="kiosk")
    app.add_middleware(
        LocalGuard,
        origin=config.page_origin,
        pairing_token=pairing,
        sessions=agent.sessions,
        own_origins=config.own_origins if config.kiosk.enabled else frozenset(),
    )
    return app


def _states(agent: Agent) -> dict[str, Any]:
    return {name: device.status() for name, device in agent.devices.items()}
