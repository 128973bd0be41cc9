"""Receipt tokens from the backend: signing a receipt for an operation, and the public check.

The token format, signer and verifier are the pure :mod:`receipts` package; this
package holds the signing keys (passphrase-encrypted PKCS#8 files, the CA's
``FileKeyStore``) and the two routes.
"""
