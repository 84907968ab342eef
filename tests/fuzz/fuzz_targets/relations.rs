//! Debian relation fields (Depends and the like) and versions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = airlock::debian::packages::parse_relations(text, "fuzz");
    if let Ok(version) = text.parse::<airlock::debian::version::DebVersion>() {
        // Ordering must be total and consistent with itself.
        assert_eq!(version.cmp(&version), std::cmp::Ordering::Equal);
    }
});
