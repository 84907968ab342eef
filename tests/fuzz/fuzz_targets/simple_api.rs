//! Project pages from an index: PEP 503 HTML and PEP 691 JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let page = url::Url::parse("http://127.0.0.1/simple/project/").unwrap();
    let project = "project".parse().unwrap();
    // Half the wheels are dropped, so the fallback that keeps a version known runs too.
    let keep = |wheel: &airlock::python::wheel::WheelFilename| wheel.platform().count() % 2 == 0;
    let filter = airlock::python::simple::PageFilter {
        project: &project,
        keep_wheel: &keep,
    };
    let _ = airlock::python::simple::parse_html(text, &page, &filter);
    let _ = airlock::python::simple::parse_json(text, &page, &filter);
});
