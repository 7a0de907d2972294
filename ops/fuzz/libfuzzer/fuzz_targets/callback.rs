#![no_main]
//! libFuzzer entry of the `callback` target (see switchboard_fuzz::callback).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_fuzz::callback::run(data);
});
