"""Client side of the backend's certificate log-in and enrolment, for the CLI and the terminal
agent. Imports nothing of ours: it speaks to the backend only over HTTP(S).

Public surface: ``BackendClient``, ``BackendError``, ``LoginSession`` and the key helpers.
"""

from xnb_client.client import BackendClient, BackendError, LoginSession
from xnb_client.keys import (
    certificate_fingerprint,
    challenge_message,
    load_private_key,
    make_csr,
    new_private_key,
    private_key_pem,
    sign_challenge,
)

__all__ = [
    "BackendClient",
    "BackendError",
    "LoginSession",
    "certificate_fingerprint",
    "challenge_message",
    "load_private_key",
    "make_csr",
    "new_private_key",
    "private_key_pem",
    "sign_challenge",
]
