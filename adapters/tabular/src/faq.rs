//! FAQ files: columns `id,question,answer[,category][,paraphrases]` (paraphrases separated
//! by `|` in a table, a list in JSON Lines). Every row is checked before anything is
//! imported, so a file with a bad row imports nothing and names every bad row.

use std::collections::HashMap;

use switchboard_engine::catalog::{check_bounds, Catalog, FaqEntry};
use switchboard_schemas::FaqId;

use crate::{cell, read, Format, Record, TabularError};

/// The columns every FAQ table must have.
pub const REQUIRED: [&str; 3] = ["id", "question", "answer"];
/// Most rows one file may hold: as many as a catalog may.
pub const MAX_ROWS: usize = switchboard_engine::policy::bounds::MAX_FAQS;

/// One bad row: where, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The 1-based line (the header is line 1).
    pub line: usize,
    /// What is wrong, in words.
    pub message: String,
}

/// What importing a row would do to the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The id is new.
    Added,
    /// The entry exists and differs.
    Updated,
    /// The entry exists as the row says.
    Unchanged,
}

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqRow {
    /// The line it came from.
    pub line: usize,
    /// The entry's id.
    pub faq_id: FaqId,
    /// Its content.
    pub entry: FaqEntry,
}

/// A whole FAQ file, checked: the good rows and every problem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaqFile {
    /// Rows that can be imported.
    pub rows: Vec<FaqRow>,
    /// Rows that cannot, with why. The file imports only when this is empty.
    pub problems: Vec<RowProblem>,
}

impl FaqFile {
    /// What importing each good row would do to `catalog`.
    pub fn changes(&self, catalog: &Catalog) -> Vec<Change> {
        self.rows
            .iter()
            .map(|row| match catalog.entries.get(&row.faq_id) {
                None => Change::Added,
                Some(existing) if *existing == row.entry => Change::Unchanged,
                Some(_) => Change::Updated,
            })
            .collect()
    }
}

/// Reads and checks an FAQ file. `Err` only when the file cannot be read as a table at all;
/// bad rows are in [`FaqFile::problems`].
pub fn parse(bytes: &[u8], format: Format) -> Result<FaqFile, TabularError> {
    let records = read(bytes, format, &REQUIRED)?;
    Ok(check(&records))
}

fn check(records: &[Record]) -> FaqFile {
    let mut file = FaqFile::default();
    if records.len() > MAX_ROWS {
        file.problems.push(RowProblem {
            line: records[MAX_ROWS].line,
            message: format!("the file has {} rows; at most {MAX_ROWS} are imported at once", records.len()),
        });
        return file;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        let mut problems = Vec::new();
        let text = |name: &str| record.text(name).unwrap_or_default();
        let (id, question, answer, category) = (text("id"), text("question"), text("answer"), text("category"));
        let paraphrases = record.list("paraphrases");
        for field in ["id", "question", "answer", "category"] {
            if record.is_not_text(field) {
                problems.push(format!("{field} must be text"));
            }
        }
        let faq_id = match FaqId::new(id.clone()) {
            Ok(faq_id) => Some(faq_id),
            Err(e) => {
                problems.push(format!("id {id:?}: {e}"));
                None
            }
        };
        if question.is_empty() {
            problems.push("the question is empty".into());
        }
        if answer.is_empty() {
            problems.push("the answer is empty".into());
        }
        if let Some(first) = seen.insert(id.clone(), record.line).filter(|_| !id.is_empty()) {
            problems.push(format!("id {id:?} already on line {first}"));
        }
        let category = (!category.is_empty()).then_some(category);
        let entry = FaqEntry { question, answer, category, paraphrases };
        if let Some(Err(e)) = faq_id.as_ref().map(|faq_id| check_bounds(faq_id, &entry)) {
            problems.push(e.to_string());
        }
        match (faq_id, problems.is_empty()) {
            (Some(faq_id), true) => file.rows.push(FaqRow { line: record.line, faq_id, entry }),
            _ => file.problems.extend(problems.into_iter().map(|message| RowProblem { line: record.line, message })),
        }
    }
    file
}

/// The catalog as a file of `format`, in id order; reads back through [`parse`] unchanged.
pub fn write(catalog: &Catalog, format: Format) -> Result<Vec<u8>, TabularError> {
    let header = ["id", "question", "answer", "category", "paraphrases"];
    let cells = |id: &FaqId, e: &FaqEntry| {
        [
            id.as_str().to_owned(),
            e.question.clone(),
            e.answer.clone(),
            e.category.clone().unwrap_or_default(),
            e.paraphrases.join("|"),
        ]
    };
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let csv_error = |e: csv::Error| TabularError::Write(e.to_string());
            writer.write_record(header).map_err(csv_error)?;
            for (id, e) in &catalog.entries {
                cell::write_csv_row(&mut writer, cells(id, e)).map_err(csv_error)?;
            }
            writer.into_inner().map_err(|e| TabularError::Write(e.to_string()))
        }
        Format::Jsonl => {
            let mut out = Vec::new();
            for (id, e) in &catalog.entries {
                let line = serde_json::json!({
                    "id": id.as_str(), "question": e.question, "answer": e.answer,
                    "category": e.category, "paraphrases": e.paraphrases,
                });
                out.extend_from_slice(line.to_string().as_bytes());
                out.push(b'\n');
            }
            Ok(out)
        }
        Format::Xlsx => {
            let xlsx_error = |e: rust_xlsxwriter::XlsxError| TabularError::Write(e.to_string());
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name("FAQ").map_err(xlsx_error)?;
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for (col, title) in (0u16..).zip(header) {
                sheet.write_string_with_format(0, col, title, &bold).map_err(xlsx_error)?;
            }
            for (row, (id, e)) in (1u32..).zip(&catalog.entries) {
                for (col, cell) in (0u16..).zip(cells(id, e)) {
                    cell::write_xlsx_text(sheet, row, col, &cell).map_err(xlsx_error)?;
                }
            }
            book.save_to_buffer().map_err(xlsx_error)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use switchboard_engine::catalog::CatalogCommand;

    fn catalog(file: &FaqFile) -> Catalog {
        let mut catalog = Catalog::default();
        for row in &file.rows {
            let command = CatalogCommand::Upsert { faq_id: row.faq_id.clone(), entry: row.entry.clone() };
            catalog.decide(&command).unwrap().iter().for_each(|e| catalog.apply(e));
        }
        catalog
    }

    #[test]
    fn every_bad_row_is_named_with_its_line() {
        let csv = "id,question,answer,category\n\
                   ok,奖品怎么加,去后台,prizes\n\
                   bad id,q,a,\n\
                   no-answer,q,,\n\
                   ok,q again,a,\n";
        let file = parse(csv.as_bytes(), Format::Csv).unwrap();
        assert_eq!(file.rows.len(), 1);
        let problems: Vec<(usize, &str)> = file.problems.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0].0, 3);
        assert!(problems[0].1.contains("bad id"), "{problems:?}");
        assert_eq!(problems[1], (4, "the answer is empty"));
        assert_eq!(problems[2], (5, "id \"ok\" already on line 2"));
    }

    #[test]
    fn json_lines_rows_must_hold_text() {
        let file = parse(b"{\"id\":\"f1\",\"question\":12,\"answer\":\"a\"}\n", Format::Jsonl).unwrap();
        assert!(file.rows.is_empty());
        assert!(file.problems.iter().any(|p| p.message == "question must be text"), "{:?}", file.problems);
    }

    #[test]
    fn a_written_catalog_reads_back_the_same_in_every_format() {
        let csv = "id,question,answer,category,paraphrases\n\
                   a,\"逗号, 引号 \"\"\",\"答案\n多行\",prizes,p1|p2\n\
                   b,How?,Like this.,,\n";
        let original = catalog(&parse(csv.as_bytes(), Format::Csv).unwrap());
        assert_eq!(original.entries.len(), 2);
        for format in [Format::Csv, Format::Jsonl, Format::Xlsx] {
            let bytes = write(&original, format).unwrap();
            let file = parse(&bytes, format).unwrap();
            assert!(file.problems.is_empty(), "{format:?}: {:?}", file.problems);
            assert_eq!(catalog(&file).entries, original.entries, "{format:?}");
            assert!(file.changes(&original).iter().all(|c| *c == Change::Unchanged), "{format:?}");
        }
    }

    #[test]
    fn exports_never_hand_a_spreadsheet_a_formula_and_still_read_back_exactly() {
        let jsonl = r#"{"id":"f1","question":"=HYPERLINK(\"http://evil\",\"x\")","answer":"+1 call me","category":"@ops","paraphrases":["-x","'=y"]}
{"id":"f2","question":"\tcmd","answer":"\r=1+1"}
"#;
        let original = catalog(&parse(jsonl.as_bytes(), Format::Jsonl).unwrap());
        assert_eq!(original.entries.len(), 2);

        let csv_bytes = write(&original, Format::Csv).unwrap();
        let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
        for record in reader.records() {
            for field in record.unwrap().iter() {
                assert!(!field.starts_with(['=', '+', '-', '@', '\t', '\r']), "{field:?} would run as a formula");
            }
        }
        let xlsx_bytes = write(&original, Format::Xlsx).unwrap();
        let mut book = zip::ZipArchive::new(std::io::Cursor::new(xlsx_bytes)).unwrap();
        let mut styles = String::new();
        std::io::Read::read_to_string(&mut book.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
        assert!(styles.contains("quotePrefix=\"1\""), "{styles}");

        for format in [Format::Csv, Format::Jsonl, Format::Xlsx] {
            let file = parse(&write(&original, format).unwrap(), format).unwrap();
            assert!(file.problems.is_empty(), "{format:?}: {:?}", file.problems);
            assert_eq!(catalog(&file).entries, original.entries, "{format:?}");
        }
    }

    #[test]
    fn changes_tell_new_changed_and_unchanged_rows_apart() {
        let before = catalog(&parse(b"id,question,answer\na,q,a\nb,q,a\n", Format::Csv).unwrap());
        let file = parse(b"id,question,answer\na,q,a\nb,q,changed\nc,q,a\n", Format::Csv).unwrap();
        assert_eq!(file.changes(&before), [Change::Unchanged, Change::Updated, Change::Added]);
    }
}
