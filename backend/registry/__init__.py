"""Resident registry: persons, households and enrolment (参保登记)."""
