"""Every card router under one name, so the application adds the cards with one line."""

from fastapi import APIRouter

from backend.cards import auth_views, views

router = APIRouter()
router.include_router(views.router)
router.include_router(auth_views.router)
