//! `_redirects` on arbitrary text: parsed or refused with a line, never a panic; a parsed file
//! answers lookups with destinations that are paths or (when allowed) http(s) URLs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for allow in [false, true] {
        if let Ok(r) = tinycdn_site::Redirects::parse(text, allow) {
            for rule in r.rules() {
                let example = rule.source.example();
                let m = r.lookup(&example).expect("a rule's example path matches some rule");
                assert!(m.to.starts_with('/') || (allow && m.to.contains("//")));
            }
        }
    }
});
