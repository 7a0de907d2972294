//! The FAQ file importers (CSV, Excel, JSON Lines): any file is either refused as a whole
//! with a reason, or split into good rows and bad rows with a line and a reason each; and
//! the good rows, written out again in the same format, read back unchanged.

use switchboard_engine::catalog::{check_bounds, Catalog};
use switchboard_tabular::faq::{parse, write, MAX_ROWS};
use switchboard_tabular::Format;

use crate::Verdict;

/// The first byte picks the format; the rest is the file.
pub fn run(data: &[u8]) -> Verdict {
    let Some((&pick, file)) = data.split_first() else { return Verdict::Skipped };
    let format = [Format::Csv, Format::Xlsx, Format::Jsonl][usize::from(pick % 3)];
    let parsed = match parse(file, format) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a refused {format:?} file is refused with a reason");
            return Verdict::Refused;
        }
    };
    assert!(parsed.rows.len() + parsed.problems.len() <= MAX_ROWS, "more rows than the limit were read");
    // A table's first line is its header; JSON Lines have none.
    let first_row = if format == Format::Jsonl { 1 } else { 2 };
    for problem in &parsed.problems {
        assert!(
            problem.line >= first_row && !problem.message.is_empty(),
            "a bad row has a line and a reason: {problem:?}"
        );
    }
    let mut catalog = Catalog::default();
    for row in &parsed.rows {
        assert!(row.line >= first_row, "a row comes from a line after the header: {row:?}");
        let entry = &row.entry;
        assert!(!entry.question.trim().is_empty() && !entry.answer.trim().is_empty(), "an empty text: {row:?}");
        assert!(check_bounds(&row.faq_id, entry).is_ok(), "a text out of bounds: {row:?}");
        let earlier = catalog.entries.insert(row.faq_id.clone(), row.entry.clone());
        assert!(earlier.is_none(), "the id {} was accepted twice in one file", row.faq_id);
    }
    let written =
        write(&catalog, format).unwrap_or_else(|e| panic!("the good rows cannot be written as {format:?}: {e}"));
    let again = parse(&written, format).unwrap_or_else(|e| panic!("what was written as {format:?} is refused: {e}"));
    assert!(again.problems.is_empty(), "what was written as {format:?} has bad rows: {:?}", again.problems);
    let reread: Vec<_> = again.rows.into_iter().map(|row| (row.faq_id, row.entry)).collect();
    let original: Vec<_> = catalog.entries.into_iter().collect();
    assert_eq!(reread, original, "the FAQ changed when written as {format:?} and read again");
    if original.is_empty() {
        Verdict::Refused
    } else {
        Verdict::Accepted
    }
}
