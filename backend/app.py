"""The FastAPI application factory: routers, the one error handler, health checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import access_log, web_security
from backend.audit.service import Actor, record
from backend.config import Settings, get_settings
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.errors import DomainError, FieldError, InvalidInput, SchemaOutOfDate, problem_body
from backend.keys import fields as personal_data_keys
from backend.migrations import schema_is_current

log = logging.getLogger("xnb.backend")
#: The staff application (ES modules over /api/v1, no build step; docs/pages.md).
DESK_DIR = Path(__file__).parent / "web" / "desk"
VERIFY_DIR = Path(__file__).parent / "web" / "verify"
PROBLEM_JSON = "application/problem+json"

API_DESCRIPTION = """
新农保 / 城乡居民基本养老保险 省级经办系统 API。

* 所有业务接口位于 `/api/v1/`，需先通过 `POST /api/v1/auth/login` 获取会话令牌，
  并以 `Authorization: Bearer <令牌>` 调用。
* 改变数据的请求须携带 `Idempotency-Key` 请求头。
* 错误一律以 `application/problem+json` 返回，含稳定的 `code` 与逐字段的 `errors`。
* 经办员只能看到其经办机构辖区内的对象；辖区外的对象一律表现为 404。
"""


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    """Build the backend application; refuses to start on an out-of-date schema."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url, echo=settings.database_echo)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if check_schema and not schema_is_current(engine):
            raise SchemaOutOfDate(detail="数据库结构不是最新版本，请先运行 xnb db upgrade")
        checkpointer = None
        if settings.audit_checkpoint_path is not None:
            from backend.audit.checkpoints import Checkpointer

            checkpointer = Checkpointer(settings, app.state.session_factory)
            checkpointer.start()
        yield
        if checkpointer is not None:
            await checkpointer.stop()
        engine.dispose()

    app = FastAPI(
        title="xnb 城乡居民养老保险经办系统",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "health", "description": "存活与就绪检查"},
            {"name": "auth", "description": "操作员登录与会话"},
            {"name": "orgs", "description": "行政区划与经办机构"},
            {"name": "operators", "description": "操作员账户"},
            {"name": "persons", "description": "人员基本信息"},
            {"name": "households", "description": "户籍家庭"},
            {"name": "enrolments", "description": "参保登记"},
            {"name": "audit", "description": "审计日志"},
            {"name": "certificates", "description": "证书签发、清单、吊销与续期"},
            {"name": "pki", "description": "公开的CA服务：CA证书链、CRL、OCSP、设备注册"},
            {"name": "policy", "description": "政策参数版本"},
            {"name": "contributions", "description": "缴费核定、收款、冲正与退费"},
            {"name": "accounts", "description": "个人账户与对账单"},
            {"name": "ledger", "description": "基金会计账簿"},
            {"name": "inbox", "description": "复核待办"},
            {"name": "query", "description": "12333查询：查询密码、电话语音、网上查询"},
        ],
    )
    app.state.settings = settings
    personal_data_keys.configure(personal_data_keys.source_of(settings))
    access_log.install()
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    if not settings.tls_enabled:
        log.warning(
            "INSECURE DEVELOPMENT MODE: no TLS, no client certificates (env=%s)", settings.env
        )
    _install_error_handlers(app)
    _install_routes(app)
    web_security.install(app, settings)
    return app


def _install_routes(app: FastAPI) -> None:
    from backend.accounts.views import router as accounts_router
    from backend.audit.views import router as audit_router
    from backend.auth.views import router as auth_router
    from backend.benefits.death_views import router as deaths_router
    from backend.benefits.overpayment_views import router as overpayments_router
    from backend.benefits.views import router as benefits_router
    from backend.cards.routes import router as cards_router
    from backend.contributions.views import router as contributions_router
    from backend.deps import client_identity
    from backend.inbox.views import router as inbox_router
    from backend.ledger.views import router as ledger_router
    from backend.orgs.views import router as orgs_router
    from backend.partners.views import router as partners_router
    from backend.payroll.views import router as payroll_router
    from backend.pki.views import public_router as pki_public_router
    from backend.pki.views import router as pki_router
    from backend.policy.views import router as policy_router
    from backend.query.pages import router as query_pages_router
    from backend.query.views import router as query_router
    from backend.receipts.views import public_router as receipts_public_router
    from backend.receipts.views import router as receipts_router
    from backend.registry.code_views import router as codes_router
    from backend.registry.import_views import router as import_router
    from backend.registry.views import router as registry_router
    from backend.statements.views import router as statements_router
    from backend.statistics.views import router as statistics_router
    from backend.supervision.views import router as supervision_router
    from backend.transfers.views import router as transfers_router

    @app.get("/healthz", tags=["health"], summary="进程存活")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="数据库可达且结构为最新")
    def readyz(request: Request) -> JSONResponse:
        engine = request.app.state.engine
        checks: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["schema"] = "ok" if schema_is_current(engine) else "out_of_date"
        except Exception as exc:  # any driver error means "not ready", reported not raised
            log.warning("readiness check failed: %s", exc)
            checks["database"] = "unreachable"
        ready = checks.get("database") == "ok" and checks.get("schema") == "ok"
        transport = "mtls" if request.url.scheme == "https" else "insecure_http_dev_mode"
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks, "transport": transport},
            status_code=200 if ready else 503,
        )

    # Every API route needs a known, unrevoked client certificate (backend.deps); the
    # public CA paths (CRL, OCSP, chain, enrolment) and the health checks do not.
    for router in (
        auth_router,
        orgs_router,
        import_router,
        registry_router,
        codes_router,
        audit_router,
        cards_router,
        policy_router,
        contributions_router,
        accounts_router,
        statements_router,
        statistics_router,
        supervision_router,
        query_router,
        ledger_router,
        deaths_router,
        overpayments_router,
        benefits_router,
        payroll_router,
        transfers_router,
        inbox_router,
        receipts_router,
        pki_router,
    ):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(client_identity)])
    app.include_router(pki_public_router)
    app.include_router(partners_router)
    app.include_router(receipts_public_router)
    app.include_router(query_pages_router)

    # The single-purpose counter page became the staff application: old bookmarks (and
    # their ?agent=) land on the desk.
    @app.get("/counter", include_in_schema=False)
    @app.get("/counter/", include_in_schema=False)
    def counter_moved(request: Request) -> RedirectResponse:
        query = request.url.query
        return RedirectResponse(f"/desk/?{query}" if query else "/desk/", status_code=308)

    # The staff application: it calls /api/v1 on this origin and the workstation's agent.
    app.mount("/desk", StaticFiles(directory=DESK_DIR, html=True), name="desk")
    # The public receipt check for phones: a QR code of …/verify/#<token> opens it.
    app.mount("/verify", StaticFiles(directory=VERIFY_DIR, html=True), name="verify")


def _problem(request: Request, error: DomainError) -> JSONResponse:
    return JSONResponse(
        problem_body(error, instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers={"WWW-Authenticate": "Bearer"} if error.status == 401 else None,
    )


def _audit_refusal(request: Request, error: DomainError) -> None:
    """Refused access is audited in its own transaction: the request's was rolled back."""
    actor: Actor = getattr(request.state, "actor", None) or Actor()
    try:
        with unit_of_work(request.app.state.session_factory) as session:
            record(
                session=session,
                actor=actor,
                action="access.refused",
                object_type=request.method,
                object_id=request.url.path[:64],
                result="denied",
                detail={"code": error.code, "detail": error.detail},
            )
    except Exception:  # the refusal itself must still reach the client
        log.exception("could not audit a refused access to %s", request.url.path)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        if exc.audit_refusal:
            await run_in_threadpool(_audit_refusal, request, exc)
        return _problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [
                str(p)
                for p in err.get("loc", ())
                if p not in ("body", "query", "path", "header", "cookie")
            ]
            code = "malformed_json" if err.get("type") == "json_invalid" else err.get("type", "")
            fields.append(FieldError(".".join(loc) or "body", str(err.get("msg", "")), code))
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
        return _problem(request, InvalidInput(detail=detail, fields=fields))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A number past what the database column holds (an identifier of 30 digits): the
        # request names nothing that can exist, so it is bad input, not a server fault.
        log.info("value out of range in %s %s: %s", request.method, request.url.path, exc)
        return _problem(
            request,
            InvalidInput(detail="请求中的数值超出允许范围", code="value_out_of_range"),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "authentication_failed"}
        error = DomainError(
            detail=str(exc.detail),
            code=codes.get(exc.status_code, "http_error"),
            status=exc.status_code,
            title=str(exc.detail),
        )
        return _problem(request, error)
