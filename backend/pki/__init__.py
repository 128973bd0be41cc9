"""The certificate authority: root and issuing CA, profiles, enrolment, CRL, OCSP, mTLS identity."""
