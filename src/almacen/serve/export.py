"""Any served table as CSV or Excel, built in memory (served tables are small: marts, not facts).

Nothing is written to disk, so an export request cannot name a path at all.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def to_csv(table: pa.Table) -> bytes:
    """UTF-8 CSV with a header row; decimals keep their exact digits. Text that a spreadsheet would run
    as a formula (starting with = + - @) is prefixed with a quote (OWASP's CSV injection advice)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            col = table.column(i)
            risky = pc.match_substring_regex(col, r"^[=+\-@\t\r]")
            table = table.set_column(i, field, pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col))
    out = io.BytesIO()
    pacsv.write_csv(table, out)
    return out.getvalue()


def to_xlsx(table: pa.Table, sheet: str) -> bytes:
    """One worksheet with a bold header; money as numbers with two decimals, times without zone (UTC)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    ws = book.add_worksheet(sheet[:31])
    bold, money = book.add_format({"bold": True}), book.add_format({"num_format": "#,##0.00"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for col, name in enumerate(table.column_names):
        ws.write(0, col, name, bold)
    for r, row in enumerate(table.to_pylist(), start=1):
        for col, value in enumerate(row.values()):
            if isinstance(value, Decimal):
                ws.write_number(r, col, float(value), money)
            elif isinstance(value, datetime):
                ws.write_datetime(r, col, value.replace(tzinfo=None), stamp)
            elif hasattr(value, "isoformat"):
                ws.write_datetime(r, col, datetime(value.year, value.month, value.day), day)
            elif value is None:
                ws.write_blank(r, col, None)
            else:
                ws.write(r, col, value if isinstance(value, int | float | bool) else str(value))
    book.close()
    return out.getvalue()
