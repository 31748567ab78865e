//! A diagnostic line whose fields are JSON values (objects, lists, `null`), which `tracing`'s fields cannot carry: the effective configuration at start, what a reload changed, the stats line's counts.
//!
//! In JSON mode the line has the shape of `tracing-subscriber`'s own JSON
//! lines (`timestamp`, `level`, `fields` with `message`, `target`), so a
//! CloudWatch query reads `fields.config.listen.address` like any other
//! field. In text mode it goes through `tracing`, the JSON after the message.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::macros::format_description;

/// Whether diagnostics are JSON lines: set once, where the subscriber is
/// set up (the binary's `init_tracing`); text until then.
static JSON: AtomicBool = AtomicBool::new(false);

/// Says whether diagnostics are JSON lines, for every line written here.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Writes one `info` line with `fields`, if `info` is enabled for this target.
pub fn info(message: &str, fields: Map<String, Value>) {
    let json = JSON.load(Ordering::Relaxed);
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    if !json {
        // Built outside the macro, whose expansion has a `Value` of its own.
        let fields = Value::Object(fields);
        tracing::info!("{message}: {fields}");
        return;
    }
    let mut all = Map::new();
    all.insert("message".into(), Value::String(message.into()));
    all.extend(fields);
    let timestamp = OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default();
    let line = serde_json::json!({
        "timestamp": timestamp,
        "level": "INFO",
        "fields": all,
        "target": module_path!(),
    });
    // stderr, like every diagnostic; a closed stderr is not worth a panic.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
