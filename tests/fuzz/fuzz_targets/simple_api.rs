//! Project pages from an index: PEP 503 HTML and PEP 691 JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let page = url::Url::parse("http://127.0.0.1/simple/project/").unwrap();
    let _ = airlock::python::simple::parse_html(text, &page);
    let _ = airlock::python::simple::parse_json(text, &page);
});
