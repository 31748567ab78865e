//! The headless-browser harness (`support::browser`) reports what a page drew and everything it asked for, so a report test that relies on it can fail.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;

use crate::support::browser;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `html` as page.html in a new temporary directory (kept alive by the
/// returned guard), and the file:// URL chromium will report for it.
fn page(html: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir
        .path()
        .canonicalize()
        .expect("the temporary directory's real path")
        .join("page.html");
    std::fs::write(&path, html).expect("writing page.html");
    let url = format!("file://{}", path.display());
    (dir, path, url)
}

#[test]
fn reports_each_svg_size_the_title_the_one_request_and_a_screenshot() {
    let (_dir, path, url) = page(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>Two charts</title>
<style>body { margin: 0 } svg { display: block }</style></head>
<body>
<svg xmlns="http://www.w3.org/2000/svg" width="300" height="150"><rect width="300" height="150" fill="#36c"/></svg>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><circle cx="100" cy="50" r="40" fill="#c63"/></svg>
</body></html>"##,
    );
    let load = browser::load_offline(&path).expect("the harness loads a local page");

    assert_eq!(load.title, "Two charts");
    assert_eq!(load.svgs.len(), 2, "svgs: {:?}", load.svgs);
    for (&(width, height), (want_width, want_height)) in
        load.svgs.iter().zip([(300.0, 150.0), (200.0, 100.0)])
    {
        assert!(
            (width - want_width).abs() <= 1.0 && (height - want_height).abs() <= 1.0,
            "svgs: {:?}",
            load.svgs
        );
    }
    assert_eq!(load.requests, [url]);
    let png = &load.screenshot_png;
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "not a PNG: {:?}",
        &png[..png.len().min(16)]
    );
    assert!(png.len() > 1_000, "a {} byte PNG", png.len());
    // IHDR: width then height, big-endian, right after the signature and the chunk header.
    let dimension = |at: usize| {
        png.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    assert_eq!(dimension(16), Some(1280), "the screenshot's width");
    assert!(
        dimension(20).is_some_and(|h| h >= 250),
        "the screenshot's height: {:?}",
        dimension(20)
    );
}

#[test]
fn lists_an_external_request_that_offline_emulation_keeps_off_the_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener on port 0");
    let image = format!(
        "http://{}/x.png",
        listener.local_addr().expect("the listener's address")
    );
    let (_dir, path, url) = page(&format!(
        r#"<!doctype html>
<html><head><title>External</title></head>
<body><img src="{image}" alt="">
<svg width="40" height="40" style="display: none"></svg></body></html>"#
    ));
    let load = browser::load_offline(&path).expect("the harness loads a page whose image fails");

    assert_eq!(
        load.requests,
        [url, image],
        "the page and the image it asked for"
    );
    // An SVG that is not rendered measures 0 x 0: a chart that did not draw shows.
    assert_eq!(load.svgs, [(0.0, 0.0)]);
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the page reached the network despite offline emulation: {other:?}"),
    }
}
