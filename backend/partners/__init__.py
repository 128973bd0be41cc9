"""The partner-bank payout API (``/bank/v1``): banks ask before paying out on a card."""
