"""Social security cards: lifecycle, production batches, personalisation, online
authentication (the bank payout API is in ``backend.partners``)."""
