//! HTTP/1.1 from bytes: one message read or parsed as it crossed the wire, and raw requests and responses built with their `Content-Length`.
//!
//! The fakes and the client speak HTTP from bytes parsed here, so the tests
//! can assert on the bytes on the wire (header-name case, framing, body),
//! not on what an HTTP library chose to show.

use std::future::Future;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// One HTTP message as it crossed the wire.
#[derive(Debug, Clone)]
pub struct Message {
    /// The raw head, start line to the blank line included.
    pub head: Vec<u8>,
    pub start_line: String,
    /// Names with their case as sent, values as bytes, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Message {
    /// The first value of `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The headers a proxy must pass on unchanged: all but the hop-by-hop
    /// ones and the framing ones, which a proxy may re-frame.
    pub fn end_to_end_headers(&self, also_skip: &[&str]) -> Vec<(String, Vec<u8>)> {
        const HOP: [&str; 7] = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "transfer-encoding",
            "upgrade",
            "content-length",
        ];
        self.headers
            .iter()
            .filter(|(n, _)| {
                let lower = n.to_ascii_lowercase();
                !HOP.contains(&lower.as_str()) && !also_skip.contains(&lower.as_str())
            })
            .cloned()
            .collect()
    }

    pub fn status(&self) -> u16 {
        self.start_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// Reads one message from `stream`, keeping any extra bytes in `buf`.
/// `None` when the peer closed before a new message began.
pub async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    is_response: bool,
) -> std::io::Result<Option<Message>> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos + 4;
        }
        if fill(stream, buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a head",
            ));
        }
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let start_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.to_owned(), value.trim().as_bytes().to_vec()))
        })
        .collect();
    let mut message = Message {
        head,
        start_line,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    let chunked = message
        .header_str("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = message
        .header_str("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if chunked {
        message.chunked = true;
        loop {
            let line = read_line(stream, buf).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(stream, buf).await?.is_empty() {}
                break;
            }
            let data = read_exact(stream, buf, size + 2).await?;
            message.body.extend_from_slice(&data[..size]);
        }
    } else if let Some(length) = length {
        message.body = read_exact(stream, buf, length).await?;
    } else if is_response && !matches!(message.status(), 204 | 304) {
        // No framing: the body runs to the end of the connection.
        while fill(stream, buf).await? != 0 {}
        message.body = std::mem::take(buf);
    }
    Ok(Some(message))
}

/// Parses a message held in memory (one we built, or one we recorded).
pub fn parse(bytes: &[u8]) -> Message {
    let is_response = bytes.starts_with(b"HTTP/");
    let mut cursor = std::io::Cursor::new(bytes.to_vec());
    let mut buf = Vec::new();
    let mut reading = std::pin::pin!(read_message(&mut cursor, &mut buf, is_response));
    // Reading from memory never waits, so one poll finishes it.
    match reading
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(result) => result.expect("parse").expect("a message"),
        std::task::Poll::Pending => panic!("an in-memory read cannot wait"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<String> {
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).collect();
            return Ok(String::from_utf8_lossy(&line[..pos]).into_owned());
        }
        if fill(stream, buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a line",
            ));
        }
    }
}

async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<Vec<u8>> {
    while buf.len() < n {
        if fill(stream, buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a body",
            ));
        }
    }
    Ok(buf.drain(..n).collect())
}

/// A raw response with a `Content-Length` computed from `body`.
pub fn response(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON 200 as LexisNexis or Socure would send it.
pub fn json_ok(body: &[u8]) -> Vec<u8> {
    response("200 OK", &[("Content-Type", "application/json")], body)
}

/// A raw request with a `Content-Length` computed from `body`.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        out.push_str("Host: idv-app.fake\r\n");
    }
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}
