"""``multipart/form-data`` bodies streamed into an :class:`~evedge.domain.files.Upload`.

python-multipart does the parsing (``MultipartParser``'s callbacks hand over
each part's headers and data as they arrive, never the whole body); this module
only picks the file part, names it from its Content-Disposition, and covers
what the parser leaves to its caller. No Tornado here.
"""

from __future__ import annotations

from typing import Callable

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from .. import errors
from .files import Upload

# What a form may carry beyond the file itself (boundaries, part headers, other fields).
OVERHEAD = 1024 * 1024


def boundary_of(content_type: str) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type; None for any other type."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary", b"").decode("latin-1")
    if not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1
        raise errors.BadRequest("multipart/form-data without a valid boundary", field="file")
    return boundary


class FilePartReader:
    """Streams the file of a form into an upload, never holding the body in memory.

    ``feed`` takes chunks as they arrive. The first part named ``file``, or else
    the first part carrying a filename, goes to ``open_file(filename)``, which
    returns the :class:`Upload` to write to; every other part is skipped.
    ``close`` is called once the body has ended.
    """

    def __init__(self, boundary: str, open_file: Callable[[str | None], Upload]):
        self._open_file = open_file
        self._parser = MultipartParser(boundary.encode("latin-1"), callbacks={
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        })
        # Quirk: the parser refuses text before the first boundary, which RFC 2046
        # §5.1.1 allows (and says to ignore). Until the first delimiter is seen, bytes
        # wait here; the leading CRLF makes a boundary at the very start match too.
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._preamble: bytearray | None = bytearray(b"\r\n")
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._sink: Upload | None = None
        self._complete = False
        self.upload: Upload | None = None

    def feed(self, chunk: bytes) -> None:
        if self._preamble is not None:
            chunk = self._skip_preamble(chunk)
        if not chunk:
            return
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise errors.BadRequest(f"malformed multipart/form-data body ({exc})",
                                    field="file") from None

    def close(self) -> Upload:
        """The body has ended: it must have been complete and carried a file."""
        self._parser.finalize()
        # Quirk: finalize() does not check that the closing boundary arrived; on_end does.
        if not self._complete:
            raise errors.BadRequest("multipart body ended before its closing boundary",
                                    field="file")
        if self.upload is None:
            raise errors.BadRequest("the form has no file part (field 'file')", field="file")
        return self.upload

    def _skip_preamble(self, chunk: bytes) -> bytes:
        """What of ``chunk`` the parser may see: nothing until the first delimiter."""
        assert self._preamble is not None
        self._preamble += chunk
        index = self._preamble.find(self._delimiter)
        if index < 0:
            del self._preamble[:-(len(self._delimiter) - 1)]  # a delimiter split across chunks
            return b""
        rest = bytes(self._preamble[index + 2:])  # from the boundary's "--" on
        self._preamble = None
        return rest

    # Parser callbacks. Data callbacks get (buffer, start, end); a header's name or
    # value may arrive in several pieces when it straddles two chunks.

    def _on_part_begin(self) -> None:
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        field, filename = _disposition(self._disposition)
        if self.upload is None and (field == "file" or filename is not None):
            self.upload = self._sink = self._open_file(filename)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            self._sink.write(data[start:end])

    def _on_part_end(self) -> None:
        self._sink = None

    def _on_end(self) -> None:
        self._complete = True


def _disposition(raw: bytes) -> tuple[str | None, str | None]:
    """(field name, filename) of a part's Content-Disposition; filename None when the
    part is not a file.

    python-multipart reads the header as latin-1 and hands back bytes, i.e. the
    bytes as sent; browsers send UTF-8 there (RFC 7578 §4.2), so that is how
    they are decoded, undecodable bytes becoming U+FFFD (which no safe name
    contains). The library cuts a Windows path in the filename to its last
    segment. Since 0.0.30 it also ignores the RFC 2231 forms (``filename*=``,
    ``name*=``), as RFC 7578 §4.2 asks (CVE-2026-53537); older versions decode
    them.
    """
    _, params = parse_options_header(raw)
    field, filename = params.get(b"name"), params.get(b"filename")
    return (None if field is None else field.decode("utf-8", "replace"),
            None if filename is None else filename.decode("utf-8", "replace"))
