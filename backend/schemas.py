"""Pydantic pieces shared by every domain's schemas."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Out(BaseModel):
    """Base of response models read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    total: int
    offset: int
    limit: int
    items: list[T]


class RejectionIn(BaseModel):
    """Why a reviewer rejects (every maker-checker rejection takes one)."""

    reason: str = Field(min_length=1, max_length=200, description="驳回原因")
