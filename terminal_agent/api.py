"""The local API on 127.0.0.1: devices for the counter page, events over a WebSocket.

Who may call it (:class:`LocalGuard`, for HTTP and WebSocket alike):

* a page from the configured origin (the backend's): the browser sends ``Origin``,
  and the answer carries the CORS headers that let the page read it;
* a page from any other origin: refused (403 ``origin_refused``), whatever it sends;
* a local program (no ``Origin``): only with the pairing token, in the
  ``X-XNB-Pairing-Token`` header (or ``?pairing_token=`` on the WebSocket).

The ``Host`` header must name the loopback address, so a DNS-rebinding page that
resolves its own name to 127.0.0.1 is refused as well. Errors are
``application/problem+json`` with the drivers' stable codes.

A kiosk (``[kiosk] enabled``) also serves its own page at ``/kiosk/`` (static files, no
token needed to fetch them); that page's origin is the agent's own (its same-origin GETs,
which carry no ``Origin``, are known by ``Sec-Fetch-Site: same-origin``), and only it (or
a paired local program) may call the kiosk endpoints ``/v1/kiosk/…``, which act as the
kiosk device without an operator. The counter page's origin may not.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device_drivers.card_reader import ReaderError
from device_drivers.id_scanner import IdScannerError
from device_drivers.printer import PrinterError
from terminal_agent import __version__
from terminal_agent.agent import Agent, AgentProblem
from terminal_agent.outbox import BackendUnreachableError, OutboxError
from terminal_agent.printing import PrintRequest

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
PAIRING_HEADER = "x-xnb-pairing-token"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-XNB-Pairing-Token"
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
    "pairing_required": "需要配对令牌",
    "host_refused": "只接受本机地址",
    "login_required": "请操作员重新登录",
    "kiosk_disabled": "本机不是自助终端",
    "kiosk_origin_only": "只有本机的自助页面可以调用",
    "id_mismatch": "身份证与社保卡不是同一人",
    "pension_not_found": "没有养老金待遇",
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


class LocalGuard:
    """ASGI middleware: loopback Host, the page origin (with CORS), or the pairing token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origin: str,
        pairing_token: str | None,
        own_origins: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.origin = origin
        self.pairing_token = pairing_token
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
        path = str(scope.get("path", ""))
        if (
            self.own_origins
            and scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and (path == _KIOSK_PAGE.rstrip("/") or path.startswith(_KIOSK_PAGE))
        ):
            # The kiosk page's own files: public content, fetched by the kiosk's browser.
            await self.app(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is None and self.own_origins and headers.get("sec-fetch-site") == "same-origin":
            # A browser omits Origin on its same-origin GETs but always sets Sec-Fetch-Site,
            # which no page can forge: this is the kiosk page (the Host check said which).
            origin = f"http://{headers.get('host', '')}"
        if origin is not None:
            origin = origin.rstrip("/")
            own = origin in self.own_origins
            if origin != self.origin and not own:
                log.warning("refused %s from origin %s", path, origin)
                await self._refuse(
                    scope, receive, send, "origin_refused", f"页面来源 {origin} 不被允许", 403
                )
                return
            if path.startswith(_KIOSK_API) and not own:
                log.warning("refused kiosk call %s from origin %s", path, origin)
                await self._refuse(
                    scope, receive, send, "kiosk_origin_only", "自助认证只能由本机自助页面发起", 403
                )
                return
            if scope["type"] == "http" and scope["method"] == "OPTIONS":
                await self._preflight(send, origin)
                return
            reply = self._with_cors(send, origin) if scope["type"] == "http" else send
            await self.app(scope, receive, reply)
            return
        if not self._paired(scope, headers):
            await self._refuse(
                scope, receive, send, "pairing_required", "本机程序须提供配对令牌", 401
            )
            return
        await self.app(scope, receive, send)

    def _paired(self, scope: Scope, headers: Headers) -> bool:
        presented = headers.get(PAIRING_HEADER)
        if presented is None and scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            presented = (query.get("pairing_token") or [None])[0]
        if not (self.pairing_token and presented):
            return False
        return hmac.compare_digest(presented.encode(), self.pairing_token.encode())

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
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
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

    @app.post("/v1/session", summary="操作员已登录：登记会话，恢复其离线队列")
    def session(authorization: Authorization = None) -> dict[str, Any]:
        return agent.register_session(authorization=authorization)

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
        await socket.accept()
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
        own_origins=config.own_origins if config.kiosk.enabled else frozenset(),
    )
    return app


def _states(agent: Agent) -> dict[str, Any]:
    return {name: device.status() for name, device in agent.devices.items()}
