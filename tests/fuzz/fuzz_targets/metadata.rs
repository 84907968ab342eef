//! Core metadata (METADATA, PKG-INFO) from wheels, sdists and PEP 658 files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = airlock::python::metadata::CoreMetadata::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock::python::sdist::parse_build_system("pyproject.toml", Some(text));
    }
});
