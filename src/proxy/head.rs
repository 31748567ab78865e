//! The hand-written lane's request heads: parsed with httparse, judged plain enough for the lane (anything else is hyper's), and written out for the upstream as they came, minus hop-by-hop fields and with `Host` naming the upstream.
//!
//! "Plain" is what the IdV app sends LexisNexis: HTTP/1.1, `GET` or a
//! `POST`-like method, an origin-form target, one `Host`, the body's length
//! in one `Content-Length` within the hard limit, and no `Expect`,
//! `Upgrade`, `Transfer-Encoding` or field named in `Connection`. Every
//! other head (and every malformed one) goes to hyper with the connection,
//! where the answers to those cases (400, 413, 417, 431...) already live.

use http::Method;

use crate::client::wire::is_hop_by_hop;

/// Header fields a plain head may have (hyper allows 100).
const MAX_HEADERS: usize = 64;

/// What the bytes read so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet.
    Partial,
    Plain(PlainHead),
    /// For hyper.
    NotPlain,
}

/// A plain request's head.
#[derive(Debug)]
pub struct PlainHead {
    /// Bytes of the head in the buffer.
    pub len: usize,
    pub method: Method,
    /// The target's path (never its query: logs and the shadow see this).
    pub path: String,
    pub content_length: u64,
    /// The client did not ask to close after this request.
    pub keep_alive: bool,
}

/// Parses the head at the start of `buf`. For a plain one, writes the head
/// the upstream gets into `out`: the request line as it came (as
/// HTTP/1.1), every end-to-end field in order with the case of its name,
/// and `Host: {upstream}` in place of the client's. A head past
/// `max_head_bytes` or a body past `max_body_bytes` is not plain: hyper
/// answers 431 or 413.
pub fn parse(
    buf: &[u8],
    max_head_bytes: usize,
    max_body_bytes: u64,
    upstream_host: &[u8],
    out: &mut Vec<u8>,
) -> Parsed {
    // Left uninitialised: zeroing 64 fields cost more than parsing a head.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len <= max_head_bytes => len,
        Ok(httparse::Status::Partial) if buf.len() < max_head_bytes => return Parsed::Partial,
        _ => return Parsed::NotPlain,
    };
    if request.version != Some(1) {
        return Parsed::NotPlain;
    }
    let method = match request.method.unwrap_or_default() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        _ => return Parsed::NotPlain,
    };
    let target = request.path.unwrap_or_default();
    if !target.starts_with('/') || !target.bytes().all(plain_target_byte) {
        return Parsed::NotPlain;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let Some((content_length, keep_alive)) = framing_fields(request.headers, max_body_bytes) else {
        return Parsed::NotPlain;
    };
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        if is_hop_by_hop(name) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        if name.eq_ignore_ascii_case(b"host") {
            out.extend_from_slice(upstream_host);
        } else {
            out.extend_from_slice(header.value);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Parsed::Plain(PlainHead {
        len,
        method,
        path: path.to_owned(),
        content_length,
        keep_alive,
    })
}

/// The body's length and whether the client keeps the connection, when the
/// fields are plain: one `Host`, at most one `Content-Length` (all digits,
/// within `max_body_bytes`), `Connection` naming only `close` or
/// `keep-alive`, and no `Transfer-Encoding`, `Expect` or `Upgrade`.
fn framing_fields(headers: &[httparse::Header<'_>], max_body_bytes: u64) -> Option<(u64, bool)> {
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut keep_alive = true;
    for header in headers {
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())?;
            if content_length.replace(length).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"keep-alive") {
                    // A field named here would have to be found and
                    // dropped: hyper's `end_to_end` does that.
                    return None;
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
        {
            return None;
        }
    }
    let content_length = content_length.unwrap_or(0);
    (hosts == 1 && content_length <= max_body_bytes).then_some((content_length, keep_alive))
}

/// A byte a plain target may have: RFC 3986's unreserved, sub-delims,
/// `:`, `@`, `/`, `?` and `%`. Others (a fragment's `#`, quotes, braces,
/// anything not ASCII) are left to hyper and `http::Uri`'s own rules.
fn plain_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &[u8] = b"upstream.test:8443";

    fn parse_str(raw: &str) -> (Parsed, String) {
        let mut out = Vec::new();
        let parsed = parse(raw.as_bytes(), 1024, 100, HOST, &mut out);
        (parsed, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn a_plain_post_goes_out_unchanged_but_for_host_and_hop_by_hop() {
        let raw = "POST /restws/x?q=1 HTTP/1.1\r\nhost: app.test\r\nX-Signed: AbC\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nContent-Length: 2\r\nTE: trailers\r\n\r\n{}";
        let (parsed, out) = parse_str(raw);
        let Parsed::Plain(head) = parsed else {
            panic!("plain: {parsed:?}")
        };
        assert_eq!(head.len, raw.len() - 2);
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.path, "/restws/x");
        assert_eq!(head.content_length, 2);
        assert!(head.keep_alive);
        assert_eq!(
            out,
            "POST /restws/x?q=1 HTTP/1.1\r\nhost: upstream.test:8443\r\nX-Signed: AbC\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn unusual_heads_are_hyper_s() {
        let not_plain = [
            "POST / HTTP/1.0\r\nHost: a\r\n\r\n",
            "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-private\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /{x} HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        for raw in not_plain {
            assert!(matches!(parse_str(raw).0, Parsed::NotPlain), "{raw:?}");
        }
        assert!(matches!(
            parse_str("GET / HTTP/1.1\r\nHost: a\r\n").0,
            Parsed::Partial
        ));
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "y".repeat(2000));
        assert!(matches!(parse_str(&long).0, Parsed::NotPlain));
    }

    #[test]
    fn close_is_heard() {
        let (parsed, _) = parse_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let Parsed::Plain(head) = parsed else {
            panic!("plain")
        };
        assert!(!head.keep_alive);
        assert_eq!(head.content_length, 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// Whatever a client sends, the parse ends in one of its three
        /// answers without a panic, and a plain head's length is within
        /// what was read.
        #[test]
        fn any_bytes_parse_without_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            if let Parsed::Plain(head) = parse(&raw, 1024, 100, HOST, &mut out) {
                proptest::prop_assert!(head.len <= raw.len());
                proptest::prop_assert!(out.ends_with(b"\r\n\r\n"));
            }
        }

        /// A plain head with any header fields goes out with the same
        /// end-to-end fields, in order, and `Host` naming the upstream.
        #[test]
        fn end_to_end_fields_go_out_in_order(
            fields in proptest::collection::vec(("x-[a-z]{1,8}", "[ -~]{0,16}"), 0..8)
        ) {
            let mut raw = String::from("POST /p HTTP/1.1\r\nHost: a\r\n");
            for (name, value) in &fields {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
            raw.push_str("\r\n");
            let (parsed, out) = parse_str(&raw);
            proptest::prop_assert!(matches!(parsed, Parsed::Plain(_)), "{raw:?}");
            let mut expected = String::from("POST /p HTTP/1.1\r\nHost: upstream.test:8443\r\n");
            for (name, value) in &fields {
                // httparse trims the blanks around a value.
                expected.push_str(&format!("{name}: {}\r\n", value.trim_matches([' ', '\t'])));
            }
            expected.push_str("\r\n");
            proptest::prop_assert_eq!(out, expected);
        }
    }
}
