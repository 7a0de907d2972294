#![no_main]
//! libFuzzer entry of the `faq` target (see switchboard_fuzz::faq).

libfuzzer_sys::fuzz_target!(
    // The workbook reader's own panics are caught and refused as a damaged file
    // (switchboard_tabular); libFuzzer's hook would abort on them before they are caught.
    // With the default hook back, a panic that escapes the target still aborts the run:
    // libfuzzer-sys catches it at the boundary.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| {
        switchboard_fuzz::faq::run(data);
    }
);
