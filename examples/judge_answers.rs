//! Judges LexisNexis InstantVerify answers read from stdin, one JSON body per
//! line, and prints each `resolution_result` as the line writes it (the
//! InstantVerify result at `context.stages.resolution`) as one JSON line:
//! the proxy's side of the differential check in `tests/differential/`
//! (docs/judging.md: "Checked against identity-idp's own code").

use std::io::{BufRead, Write};

use socure_shadow_proxy::judge::pair::Adjudicated;
use socure_shadow_proxy::judge::redact::Redactor;
use socure_shadow_proxy::judge::resolution;

fn main() -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // No applicant: only the redaction rules that need none apply (compare.py
    // applies the same to identity-idp's side).
    let redactor = Redactor::default();
    for line in std::io::stdin().lock().lines() {
        let verdict = resolution::judge(200, None, line?.as_bytes(), "wf", &redactor);
        serde_json::to_writer(&mut out, &Adjudicated::of(&verdict))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
