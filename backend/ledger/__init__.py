"""The fund's double-entry books: chart of accounts, journal entries, invariants, batch jobs."""
