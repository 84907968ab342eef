//! Dockerfiles as users write them, through the parser and the air-gap rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = airlock::verify::dockerfile::parser::parse(text);
    let _ = airlock::verify::dockerfile::parser::split_words(text);
    let _ = airlock::verify::dockerfile::parser::parse_mount(text, &Default::default());
});
