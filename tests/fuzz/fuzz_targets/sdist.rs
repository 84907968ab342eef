//! Source distributions (.tar.gz and .zip) as the safe extractor inspects them.
#![no_main]

use airlock::python::sdist::{Limits, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 1000,
        max_total_bytes: 1 << 24,
    };
    let _ = inspect("fuzz-1.0.tar.gz", data, limits);
    let _ = inspect("fuzz-1.0.zip", data, limits);
});
