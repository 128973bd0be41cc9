"""Operator authentication: passwords, sessions, lockout."""
