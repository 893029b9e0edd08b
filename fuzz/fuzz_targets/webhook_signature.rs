#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| boomerang_fuzz::webhook_signature(data));
