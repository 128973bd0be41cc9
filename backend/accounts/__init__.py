"""Individual accounts: append-only entries by source, balances, statements, yearly interest."""
