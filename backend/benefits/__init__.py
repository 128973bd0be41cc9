"""Pensions: qualification, computation, applications and the pensioner's record."""
