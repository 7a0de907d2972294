//! Tables written out as an Excel workbook or CSV: the weekly report and any other export
//! describe their tables ([`Sheet`]), and this module alone writes the files, every text
//! cell through [`crate::cell`] so operator text never becomes a formula.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::cell::{write_csv_row, write_xlsx_text};
use crate::TabularError;

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (written as text, never as a formula).
    Text(String),
    /// A number.
    Number(f64),
    /// Nothing.
    Empty,
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<f64> for Cell {
    fn from(n: f64) -> Self {
        Self::Number(n)
    }
}

/// A table: a named sheet of a workbook, whose first row is a bold header.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sheet {
    /// The sheet's name (at most 31 characters, as Excel requires).
    pub name: String,
    /// The header's titles; none for a sheet without a header.
    pub header: Vec<String>,
    /// The rows below it.
    pub rows: Vec<Vec<Cell>>,
    /// Column widths to set, by column index (in characters).
    pub widths: Vec<(u16, f64)>,
}

impl Sheet {
    /// A sheet named `name` with these header titles.
    pub fn new(name: &str, header: &[&str]) -> Self {
        Self { name: name.to_owned(), header: header.iter().map(|s| (*s).to_owned()).collect(), ..Self::default() }
    }
}

/// The sheets as one workbook.
pub fn write_xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, TabularError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for table in sheets {
        let sheet = book.add_worksheet().set_name(&table.name).map_err(xlsx)?;
        for (c, title) in table.header.iter().enumerate() {
            sheet.write_string_with_format(0, column(c)?, title, &bold).map_err(xlsx)?;
        }
        let first = u32::from(!table.header.is_empty());
        for (r, row) in table.rows.iter().enumerate() {
            let r = u32::try_from(r)
                .ok()
                .and_then(|r| r.checked_add(first))
                .ok_or_else(|| xlsx(XlsxError::RowColumnLimitError))?;
            for (c, cell) in row.iter().enumerate() {
                let c = column(c)?;
                match cell {
                    Cell::Text(text) => write_xlsx_text(sheet, r, c, text).map(drop),
                    Cell::Number(n) => sheet.write_number(r, c, *n).map(drop),
                    Cell::Empty => Ok(()),
                }
                .map_err(xlsx)?;
            }
        }
        for (c, width) in &table.widths {
            sheet.set_column_width(*c, *width).map_err(xlsx)?;
        }
    }
    book.save_to_buffer().map_err(xlsx)
}

/// One table as CSV, UTF-8 with a byte-order mark so spreadsheet programs read Chinese text
/// correctly.
pub fn write_csv(table: &Sheet) -> Result<Vec<u8>, TabularError> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let text = |cell: &Cell| match cell {
        Cell::Text(text) => text.clone(),
        Cell::Number(n) => n.to_string(),
        Cell::Empty => String::new(),
    };
    if !table.header.is_empty() {
        write_csv_row(&mut writer, &table.header).map_err(csv_error)?;
    }
    for row in &table.rows {
        write_csv_row(&mut writer, row.iter().map(text)).map_err(csv_error)?;
    }
    writer.into_inner().map_err(|e| csv_error(e.into_error().into()))
}

fn column(index: usize) -> Result<u16, TabularError> {
    u16::try_from(index).map_err(|_| xlsx(XlsxError::RowColumnLimitError))
}

fn xlsx(e: XlsxError) -> TabularError {
    TabularError::Write(format!("workbook: {e}"))
}

fn csv_error(e: csv::Error) -> TabularError {
    TabularError::Write(format!("CSV: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table() -> Sheet {
        let mut sheet = Sheet::new("Sessions", &["user", "messages"]);
        sheet.rows.push(vec!["张三".into(), 3.0.into()]);
        sheet.rows.push(vec!["=HYPERLINK(\"x\")".into(), Cell::Empty]);
        sheet
    }

    #[test]
    fn csv_has_a_byte_order_mark_and_formula_text_stays_text() {
        let csv = String::from_utf8(write_csv(&table()).unwrap()).unwrap();
        assert_eq!(csv, "\u{feff}user,messages\n张三,3\n\"'=HYPERLINK(\"\"x\"\")\",\n");
    }

    #[test]
    fn a_workbook_reads_back_with_its_sheets_and_cells() {
        use calamine::{DataType, Reader, Xlsx};
        let bytes = write_xlsx(&[table(), Sheet::new("Empty", &["a"])]).unwrap();
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["Sessions", "Empty"]);
        let range = book.worksheet_range("Sessions").unwrap();
        assert_eq!(range.get_value((1, 0)).unwrap().to_string(), "张三");
        assert_eq!(range.get_value((1, 1)).unwrap().get_float(), Some(3.0));
        assert_eq!(range.get_value((2, 0)).unwrap().to_string(), "=HYPERLINK(\"x\")", "kept as text");
    }
}
