#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| starttls_studio::fuzzing::smtp_command(data));
