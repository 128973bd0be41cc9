"""The CA over HTTP: public (CRL, OCSP, CA chain, device enrolment) and the API (inventory,
devices and tokens, CSR approval, revocation, renewal over mutual TLS).

``public_router`` lives in ``public``; ``router`` gathers the API modules in the order
their paths were always registered.
"""

from fastapi import APIRouter

from backend.pki.views import approval, certificates, devices
from backend.pki.views.public import public_router

router = APIRouter(tags=["certificates"])
router.include_router(certificates.router)
router.include_router(devices.router)
router.include_router(approval.router)

__all__ = ["public_router", "router"]
