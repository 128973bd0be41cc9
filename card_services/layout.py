"""The card's file layout as data: MF, the SSSE application, its EFs and DFs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

#: ``sx1.sh.`` + GBK 社会保障: the social-insurance environment, selected by name.
SSSE_AID: Final = b"sx1.sh." + "社会保障".encode("gbk")
MF_FID: Final = 0x3F00
DF03_FID: Final = 0xDF03


class FileKind(Enum):
    """What sort of file a node is."""

    MASTER = "MF"
    DEDICATED = "DF"
    RECORDS = "EF"


class ReadAccess(Enum):
    """Who may read an EF."""

    FREE = "free"
    #: After EXTERNAL AUTHENTICATE with the read key, where the generation enforces it.
    READ_KEY = "read-key"


@dataclass(frozen=True)
class CardFile:
    """One file of the layout; record files list the tag and value length of each record."""

    name: str
    fid: int
    kind: FileKind
    title: str
    aid: bytes | None = None
    sfi: int | None = None
    read_access: ReadAccess = ReadAccess.FREE
    records: tuple[tuple[int, int], ...] = ()
    children: tuple[CardFile, ...] = field(default=())

    def child(self, fid: int) -> CardFile | None:
        """The direct child with file id ``fid``."""
        return next((c for c in self.children if c.fid == fid), None)

    def child_by_sfi(self, sfi: int) -> CardFile | None:
        """The direct child EF with short file id ``sfi``."""
        return next((c for c in self.children if c.sfi == sfi), None)

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], CardFile]]:
        """Every file under this one with its path of names, depth first."""
        here = (*path, self.name)
        yield here, self
        for c in self.children:
            yield from c.walk(here)


def _records(*pairs: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    return pairs


EF05: Final = CardFile(
    "EF05",
    0xEF05,
    FileKind.RECORDS,
    "basic card data 卡的基本信息",
    sfi=0x05,
    records=_records((0x01, 16), (0x02, 1), (0x03, 4), (0x04, 12), (0x05, 4), (0x06, 4), (0x07, 9)),
)
EF06_GEN1: Final = CardFile(
    "EF06",
    0xEF06,
    FileKind.RECORDS,
    "holder data 持卡人基本信息",
    sfi=0x06,
    read_access=ReadAccess.READ_KEY,
    records=_records((0x08, 18), (0x09, 30), (0x0A, 1), (0x0B, 1), (0x0C, 3), (0x0D, 4)),
)
EF06: Final = CardFile(
    "EF06",
    0xEF06,
    FileKind.RECORDS,
    "holder data 持卡人基本信息",
    sfi=0x06,
    read_access=ReadAccess.READ_KEY,
    records=_records(
        (0x08, 18), (0x09, 30), (0x4E, 20), (0x0A, 1), (0x0B, 1), (0x0C, 3), (0x0D, 4)
    ),
)
PENSION_RECORD_TAG: Final = 0x71
PENSION_RECORD_LENGTH: Final = 32
DF03_EF07: Final = CardFile(
    "EF07",
    0xEF07,
    FileKind.RECORDS,
    "pension record 养老保险信息",
    sfi=0x07,
    records=tuple((PENSION_RECORD_TAG, PENSION_RECORD_LENGTH) for _ in range(4)),
)


def _dfs() -> tuple[CardFile, ...]:
    return (
        CardFile("DF01", 0xDF01, FileKind.DEDICATED, "public data 公共信息"),
        CardFile("DF02", 0xDF02, FileKind.DEDICATED, "employment 就业信息"),
        CardFile(
            "DF03", DF03_FID, FileKind.DEDICATED, "social insurance 社会保险", children=(DF03_EF07,)
        ),
        CardFile("DF04", 0xDF04, FileKind.DEDICATED, "medical 医疗保险"),
    )


def card_layout(*, name_extension: bool) -> CardFile:
    """The whole file tree; generation-1 cards have no name extension record in EF06."""
    ssse = CardFile(
        "SSSE",
        0xDDF1,
        FileKind.DEDICATED,
        "social-insurance environment 社会保障应用",
        aid=SSSE_AID,
        children=(EF05, EF06 if name_extension else EF06_GEN1, *_dfs()),
    )
    return CardFile("MF", MF_FID, FileKind.MASTER, "master file", children=(ssse,))
