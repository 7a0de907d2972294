#![no_main]
//! libFuzzer entry of the `api` target (see switchboard_fuzz::api).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_fuzz::api::run(data);
});
