"""The device driver tests' view of the shared PC/SC rig (``tests/pcsc_rig.py``)."""

from tests.pcsc_rig import SLOT0_READER, PcscRig, _missing

__all__ = ["SLOT0_READER", "PcscRig", "_missing"]
