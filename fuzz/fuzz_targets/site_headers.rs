//! `_headers` on arbitrary text: parsed or refused with a line, never a panic; the headers a
//! parsed file yields are tokens with values free of control bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = tinycdn_site::HeaderRules::parse(text) {
        for rule in h.rules() {
            for (name, value) in h.headers_for(&rule.pattern.example()) {
                assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()));
                assert!(!value.bytes().any(|b| b.is_ascii_control()));
            }
        }
    }
});
