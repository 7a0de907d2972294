#![no_main]
//! libFuzzer entry of the `xml` target (see switchboard_fuzz::xml).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_fuzz::xml::run(data);
});
