"""What every fuzz test shares: how many examples it runs, and no deadline.

``XNB_FUZZ_EXAMPLES`` raises the count for a longer run (docs/security.md gives the
figures of both); the default keeps the whole directory to seconds in CI.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("XNB_FUZZ_EXAMPLES", "400"))

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
