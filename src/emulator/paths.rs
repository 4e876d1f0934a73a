// URL paths: the two program bases (matched ignoring case) and percent-decoding of id segments, which arrive
// encoded because the client percent-encodes every path parameter.

use crate::Program;

/// The partner-insights base path.
pub(crate) const PARTNER_BASE: &str = "/insights/v1/mpn";
/// The marketplace base path.
pub(crate) const MARKETPLACE_BASE: &str = "/insights/v1.1/cmp";

/// Splits `/insights/v1/mpn/ScheduledReport` into the program and `/ScheduledReport`.
pub(crate) fn split_program(path: &str) -> Option<(Program, &str)> {
    [(Program::Partner, PARTNER_BASE), (Program::Marketplace, MARKETPLACE_BASE)].into_iter().find_map(
        |(program, base)| {
            let head = path.get(..base.len())?;
            let rest = &path[base.len()..];
            (head.eq_ignore_ascii_case(base) && (rest.is_empty() || rest.starts_with('/'))).then_some((program, rest))
        },
    )
}

/// Decodes `%XX` escapes; malformed escapes stay as written, and invalid UTF-8 becomes U+FFFD.
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_bases() {
        assert_eq!(split_program("/insights/v1/mpn/ScheduledReport"), Some((Program::Partner, "/ScheduledReport")));
        assert_eq!(split_program("/Insights/V1.1/CMP"), Some((Program::Marketplace, "")));
        assert_eq!(split_program("/insights/v1/mpnx/ScheduledReport"), None);
        assert_eq!(split_program("/insights/v1"), None);
        assert_eq!(split_program("/é"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%3Bb%2f"), "a;b/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%e2%82%ac"), "%zz€");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
