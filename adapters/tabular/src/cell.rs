//! Cells that stay text. Spreadsheet programs take a CSV cell that starts with `=`, `+`, `-`,
//! `@`, a tab or a carriage return for a formula ("CSV injection"), so operator text in an
//! export could run in an engineer's spreadsheet. Every export writes its cells through here.

use std::borrow::Cow;

use rust_xlsxwriter::{Format, Worksheet, XlsxError};

/// First characters that make a spreadsheet program read a cell as a formula.
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` would be read as a formula, possibly behind quotes a spreadsheet program
/// would strip (so `'=1` is quoted again and reads back exactly).
fn looks_like_formula(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(FORMULA_LEADS)
}

/// A CSV cell's text: formula-like text gets a `'` in front, the mark spreadsheet programs
/// show as "this is text". [`csv_restored`] undoes it exactly.
pub fn csv_text(text: &str) -> Cow<'_, str> {
    if looks_like_formula(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text a cell written by [`csv_text`] held; any other cell unchanged.
pub fn csv_restored(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(text) if looks_like_formula(text) => text,
        _ => cell,
    }
}

/// Writes one CSV row, every cell through [`csv_text`].
pub fn write_csv_row<W: std::io::Write>(
    writer: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = impl AsRef<str>>,
) -> csv::Result<()> {
    writer.write_record(cells.into_iter().map(|cell| csv_text(cell.as_ref()).into_owned()))
}

/// Writes a text cell of a workbook. A string cell is never evaluated, but a formula-like one
/// is also marked quote-prefixed (Excel's own "text" flag), so editing the cell or saving the
/// sheet as CSV cannot turn it into a formula either. The text itself is kept unchanged.
pub fn write_xlsx_text<'a>(
    sheet: &'a mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
) -> Result<&'a mut Worksheet, XlsxError> {
    if looks_like_formula(text) {
        sheet.write_string_with_format(row, col, text, &Format::new().set_quote_prefix())
    } else {
        sheet.write_string(row, col, text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_leading_text_is_quoted() {
        for text in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "'=1", "''+1"] {
            assert_eq!(csv_text(text), format!("'{text}"), "{text:?}");
        }
        for text in ["", "plain", "a=b", " =1", "'quoted'", "1-2", "导出"] {
            assert_eq!(csv_text(text), text, "{text:?}");
        }
    }

    #[test]
    fn a_long_run_of_quotes_is_checked_without_recursion() {
        let text = format!("{}=1", "'".repeat(1_000_000));
        assert_eq!(csv_restored(&csv_text(&text)), text);
    }

    proptest! {
        #[test]
        fn restoring_undoes_quoting(text in "['=+@\\-\t\ra-z ]{0,12}") {
            let written = csv_text(&text);
            prop_assert_eq!(csv_restored(&written), text.as_str());
            prop_assert!(!written.starts_with(FORMULA_LEADS), "{:?} would run as a formula", written);
        }
    }
}
