"""The certificate authority: hierarchy, issuance against profiles, enrolment, revocation,
CRL, OCSP, inventory, and the identity behind a client certificate.

Services take keyword-only arguments and never commit. Every check runs before the
first change, so a refusal leaves nothing behind but the audit record the caller
writes (see ``backend.pki.refusals``).

One module per subject; this package re-exports their public names:

- ``ca``: key labels, fingerprints, the issuing CA and its chain
- ``holders``: who a certificate is for and the names it carries
- ``issuance``: templates checked against profiles, signed and stored
- ``ceremony``: the root and issuing CA
- ``csr``: parsing and checking certificate signing requests
- ``enrolment``: devices, one-time tokens, device enrolment
- ``approval``: banks, operator and bank CSRs approved by an administrator
- ``identity``: the identity behind a client certificate
- ``renewal``: a new certificate for the current holder
- ``revocation``: revocation and the CRL (published on revocation and when it ages)
- ``ocsp``: the OCSP responder and its response cache
- ``inventory``: look-up by serial and search
- ``_shared``: private helpers used by several of them
"""

# Actor, InvalidInput and Certificate are not the service's own names, but the tests and
# the bench reached them through this module before it was split.
from backend.audit.service import Actor
from backend.errors import InvalidInput
from backend.pki.models import Certificate
from backend.pki.service.approval import (
    decide_request,
    get_request,
    register_bank,
    submit_request,
)
from backend.pki.service.ca import (
    ISSUING_KEY_LABEL,
    ROOT_KEY_LABEL,
    chain_pem,
    fingerprint,
    issuing_ca,
    issuing_cas,
    load_certificate,
    valid_issuing_ca,
)
from backend.pki.service.ceremony import init_hierarchy, retire_issuing_ca, rotate_issuing_ca
from backend.pki.service.csr import check_request, parse_csr
from backend.pki.service.enrolment import (
    DEVICE_KINDS,
    enrol_device,
    issue_enrolment_token,
    register_device,
)
from backend.pki.service.holders import (
    Holder,
    bank_holder,
    device_holder,
    operator_holder,
    server_holder,
)
from backend.pki.service.identity import ClientIdentity, check_presented, identify, verify_issued
from backend.pki.service.inventory import get_certificate, search
from backend.pki.service.issuance import ORGANISATION, issue_server_certificate, template_for
from backend.pki.service.ocsp import OcspAnswer, ocsp_answer
from backend.pki.service.renewal import renew
from backend.pki.service.revocation import (
    REVOCATION_REASONS,
    current_crl,
    generate_crl,
    latest_crl,
    revoke,
)

__all__ = [
    "DEVICE_KINDS",
    "ISSUING_KEY_LABEL",
    "ORGANISATION",
    "REVOCATION_REASONS",
    "ROOT_KEY_LABEL",
    "Actor",
    "Certificate",
    "ClientIdentity",
    "Holder",
    "InvalidInput",
    "OcspAnswer",
    "bank_holder",
    "chain_pem",
    "check_presented",
    "check_request",
    "current_crl",
    "decide_request",
    "device_holder",
    "enrol_device",
    "fingerprint",
    "generate_crl",
    "get_certificate",
    "get_request",
    "identify",
    "init_hierarchy",
    "issue_enrolment_token",
    "issue_server_certificate",
    "issuing_ca",
    "issuing_cas",
    "latest_crl",
    "load_certificate",
    "ocsp_answer",
    "operator_holder",
    "parse_csr",
    "register_bank",
    "register_device",
    "renew",
    "retire_issuing_ca",
    "revoke",
    "rotate_issuing_ca",
    "search",
    "server_holder",
    "submit_request",
    "template_for",
    "valid_issuing_ca",
    "verify_issued",
]
