"""CSV cells a spreadsheet would run as formulas, made harmless on the way out and
restored on the way in (CSV injection, OWASP's "CSV Injection" page).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel and LibreOffice (``=HYPERLINK(...)``, ``@SUM(...)``, DDE): an id tag's
note typed by anyone with the operator role would run on the admin's laptop when the
export is opened. Such a cell gets a leading ``'``, which spreadsheets show as text.

So that export -> import gives back exactly what was exported, a cell that already
begins with quotes and then one of those characters gets one more quote too, and the
import takes one off every cell of that shape: ``neutralise`` is undone by ``restore``
for every string.
"""

from __future__ import annotations

import re

FORMULA_START = "=+-@\t\r"
_QUOTED_FORMULA = re.compile("'*[" + re.escape(FORMULA_START) + "]")


def neutralise(cell: str) -> str:
    """The cell as it is safe to write into a CSV file a spreadsheet may open."""
    return "'" + cell if _QUOTED_FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    """The cell ``neutralise`` was given (for a cell read back from such a file)."""
    return cell[1:] if cell.startswith("'") and _QUOTED_FORMULA.match(cell) else cell
