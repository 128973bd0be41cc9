"""Upload import of residents: ``POST /api/v1/persons/import`` with a raw ``text/csv`` body."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.deps import AppSettings, DbSession, IdempotencyKey, Requires
from backend.errors import DomainError, FieldError, invalid
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.importer import import_persons

router = APIRouter()

PersonImporter = Annotated[Principal, Depends(Requires(Permission.PERSON_IMPORT))]
_SPOOL_CHUNK = 1 << 20


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


def _too_large(max_mib: int) -> DomainError:
    return DomainError(
        detail=f"文件超过{max_mib} MiB：请拆分后分批导入，或在服务器上用 xnb persons import",
        code="import_too_large",
        status=413,
        title="文件过大",
        fields=[FieldError("body", f"文件超过{max_mib} MiB", "too_large")],
    )


@router.post(
    "/persons/import",
    tags=["persons"],
    summary="批量导入人员（CSV 原文作为请求体）",
    description=(
        "请求体为 CSV 原文（`Content-Type: text/csv`，UTF-8 或 GB18030，可用 charset 指明）。"
        "默认有任何错误行则整批拒收（422，`errors[]` 中 field 为“line N: 列名”）；"
        "`accept_valid=true` 时只导入正确的行。已存在的身份证号码不重复导入。"
    ),
    responses={
        413: {"description": "import_too_large：请求体超过 import_max_mib"},
        422: {"description": "文件或数据有误，未导入任何数据"},
    },
)
async def import_persons_upload(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: PersonImporter,
    idempotency_key: IdempotencyKey,
    accept_valid: Annotated[bool, Query(description="只导入正确的行")] = False,
    file_name: Annotated[str, Query(max_length=200, description="原文件名（审计用）")] = (
        "upload.csv"
    ),
) -> JSONResponse:
    """Import residents of the operator's villages from the CSV body."""
    if not idempotency_key:
        raise invalid("Idempotency-Key", "状态变更请求必须携带 Idempotency-Key 请求头", "required")
    encoding = _charset(request.headers.get("content-type"))
    with tempfile.TemporaryDirectory(prefix="xnb-import-") as tmp:
        path = Path(tmp) / "upload.csv"
        digest = hashlib.sha256()
        # The body is spooled to disk, never held in memory: files may be large (capped).
        limit = settings.import_max_mib * 1024 * 1024
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(settings.import_max_mib)
        size = 0
        with path.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(settings.import_max_mib)
                digest.update(chunk)
                fh.write(chunk)

        def action() -> tuple[int, Any]:
            report = import_persons(
                session=session,
                path=path,
                actor=principal.actor,
                scope=principal.scope,
                accept_valid=accept_valid,
                encoding=encoding,
                file_name=file_name,
                chunk_rows=settings.import_chunk_rows,
            )
            return 200, report.as_dict()

        return await run_in_threadpool(
            respond_once,
            session=session,
            principal=principal,
            key=idempotency_key,
            request=request,
            payload={
                "sha256": digest.hexdigest(),
                "accept_valid": accept_valid,
                "encoding": encoding,
            },
            action=action,
        )
