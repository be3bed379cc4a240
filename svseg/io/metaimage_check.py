"""Checking that a MetaImage (.mha, .mhd + data file) holds every byte of voxel data its header announces.

ITK's MetaIO reads a MetaImage cut short (a copy interrupted, a download stopped) by printing
``MetaImage: M_ReadElementsData: data not read completely`` straight to the process's standard
error, below Python, before it raises: the terminal shows two lines of C++ chatter above svseg's
one-line refusal. Checking the sizes first, from the text header alone, refuses the file before
ITK opens it. The header is ``Key = Value`` lines ending with ``ElementDataFile``: ``LOCAL``
(the data follows in the same file) or the name of the data file beside it. Uncompressed data
must hold DimSize x ElementNumberOfChannels x the element size bytes; compressed data the
``CompressedDataSize`` bytes ITK's writer records. Layouts this cannot size (a list of slice
files, a header size, an element type outside MetaIO's scalar ones) are left to ITK.
"""

from __future__ import annotations

from pathlib import Path

from svseg.errors import SvsegError

_HEADER_LIMIT = 1 << 16  # a MetaImage text header is a few hundred bytes
_ELEMENT_BYTES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8,
}
METAIMAGE_ENDINGS = (".mha", ".mhd")


def check_metaimage(path: Path) -> None:
    """Raise SvsegError naming `path` (or its data file) when its voxel data is shorter than the header says."""
    parsed = _header(path)
    if parsed is None:
        return
    header, data_offset = parsed
    expected = _expected_bytes(header)
    data_file = header.get("ElementDataFile", "")
    if expected is None or data_file.upper() == "LIST" or "%" in data_file or header.get("HeaderSize", "0") != "0":
        return
    if data_file == "LOCAL":
        source, available = path, path.stat().st_size - data_offset
    else:
        source = path.parent / data_file
        if not source.is_file():
            raise SvsegError(f"{path}: its voxel data file {source} is missing")
        available = source.stat().st_size
    if available < expected:
        raise SvsegError(f"{source}: truncated MetaImage: {available} of the {expected} bytes of voxel data "
                         f"{path.name}'s header announces")


def _header(path: Path) -> tuple[dict[str, str], int] | None:
    """The header's keys and the byte offset where the voxel data starts; None when no header is found."""
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_LIMIT)
    header: dict[str, str] = {}
    offset = 0
    while offset < len(head):
        end = head.find(b"\n", offset)
        if end < 0:
            return None
        key, _, value = head[offset:end].decode("latin-1").partition("=")
        header[key.strip()] = value.strip()
        offset = end + 1
        if key.strip() == "ElementDataFile":
            return header, offset
    return None


def _expected_bytes(header: dict[str, str]) -> int | None:
    """Bytes of voxel data the header announces (compressed size when compressed); None when unknown."""
    if header.get("CompressedData", "False").lower() == "true":
        size = header.get("CompressedDataSize", "")
        return int(size) if size.isdigit() else None
    element = _ELEMENT_BYTES.get(header.get("ElementType", ""))
    try:
        sizes = [int(side) for side in header.get("DimSize", "").split()]
        channels = int(header.get("ElementNumberOfChannels", "1"))
    except ValueError:
        return None
    if element is None or not sizes:
        return None
    total = element * channels
    for side in sizes:
        total *= side
    return total
