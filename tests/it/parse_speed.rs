//! A benchmark harness, not a timed test: `scripts/bench-parse.sh` runs it in release mode on a
//! real `Packages` file named by AIRLOCK_BENCH_PACKAGES and prints the timings. Without that
//! variable it does nothing.

#[test]
#[ignore = "benchmark harness; run by scripts/bench-parse.sh"]
fn parse_a_real_packages_index() {
    let Ok(path) = std::env::var("AIRLOCK_BENCH_PACKAGES") else {
        eprintln!("skipped: set AIRLOCK_BENCH_PACKAGES to a Packages file");
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let stanzas = text.matches("\nPackage: ").count() + usize::from(text.starts_with("Package: "));
    let mut timings = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let stanza_only = airlock::debian::deb822::parse(&text).unwrap().len();
        let deb822 = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let packages = airlock::debian::packages::parse_packages(&text, &path).unwrap();
        let full = started.elapsed().as_secs_f64();
        assert_eq!(packages.len(), stanzas, "every stanza becomes a package");
        assert_eq!(stanza_only, stanzas);
        timings.push((deb822, full));
    }
    timings.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (deb822, full) = timings[timings.len() / 2];
    println!(
        "parse {path}: {stanzas} stanzas, {:.1} MB; median of 5: deb822 {deb822:.3} s, full (relations, versions) {full:.3} s",
        text.len() as f64 / 1e6
    );
}
