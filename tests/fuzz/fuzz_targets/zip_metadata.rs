//! A wheel's tail and central directory, then its METADATA member, as the resolver reads them
//! over range requests: whatever the bytes, an answer or an error, never a panic.
#![no_main]

use airlock::python::zip_metadata::{
    extract_member, find_metadata, list_entries, locate_directory, member_read_length,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = list_entries(data);
    if let Ok(location) = locate_directory(data, 0) {
        let start = usize::try_from(location.offset).unwrap_or(usize::MAX);
        let directory = data.get(start..).unwrap_or_default();
        if let Ok(entry) = find_metadata(directory) {
            let _ = member_read_length(&entry);
            let at = usize::try_from(entry.local_header_offset).unwrap_or(usize::MAX);
            let _ = extract_member(data.get(at..).unwrap_or_default(), &entry);
        }
    }
    // A whole archive read the way verify reads a wheel.
    let url = url::Url::parse("http://127.0.0.1/x-1.0-py3-none-any.whl").unwrap();
    let _ = airlock::python::index::read_wheel_metadata(&url, data);
});
