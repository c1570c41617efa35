#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gstsavant::fuzzing::caps_text(data));
