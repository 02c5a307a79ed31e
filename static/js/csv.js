// CSV files made in the browser. A cell a spreadsheet would run as a formula (it starts
// with = + - @, or a tab or carriage return) gets a leading ' : id tags and charger ids
// come from chargers and cards, not from us (CSV injection).

// The same rule as the box's own CSV exports (evedge/domain/csv_cells.py), quotes included.
const FORMULA = /^'*[=+\-@\t\r]/;

export function csvCell(value) {
  let text = String(value ?? "");
  if (FORMULA.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A whole file: the header and the rows, CRLF line ends (RFC 4180). */
export function csvText(header, rows) {
  return [header, ...rows].map((cells) => cells.map(csvCell).join(",")).join("\r\n") + "\r\n";
}
