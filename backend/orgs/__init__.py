"""Organisations: the administrative region tree, offices, operators, roles and scopes."""
