//! RFC 2822 dates from HTTP headers and Release files; what parses must print back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(time) = airlock::dates::parse_rfc2822(text) {
        let printed = airlock::dates::format_rfc2822(time);
        assert_eq!(
            airlock::dates::parse_rfc2822(&printed),
            Some(time),
            "{printed}"
        );
    }
});
