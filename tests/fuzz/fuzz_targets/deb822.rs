//! deb822 text as mirrors and local files give it: Packages, Release, sources, dpkg status.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = airlock::debian::deb822::parse(text);
    let _ = airlock::debian::packages::parse_packages(text, "fuzz");
    let _ = airlock::debian::release::parse_release(text, "fuzz");
    let _ = airlock::debian::sources::parse_sources(text, "fuzz.sources");
    let _ = airlock::debian::sources::parse_list(text, "fuzz.list");
    let _ = airlock::debian::closure::Base::from_dpkg_status(text);
});
