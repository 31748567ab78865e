//! The `demo` command: built-in fake LexisNexis and Socure on loopback, the proxy in front, a handful of fake applicants.
//!
//! Everything runs in this process on 127.0.0.1 port 0 and needs nothing from
//! outside. The fakes answer with identity-idp's fixtures (copies in `data/`,
//! compiled in; a test keeps them equal to `tests/fixtures/`), chosen by the
//! fake applicant's name, so the run covers every cell of the report: both
//! pass, only one passes, both fail, errors on each side, a Socure timeout,
//! and a PhoneFinder request that must be forwarded but not shadowed. A
//! second act, with one Socure slot and a duplicate window, adds a dropped
//! mirror and a duplicate. It ends with `report`'s text over its own lines.
//! Part of the binary only: the library has no demo.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use socure_shadow_proxy::config::{API_KEY_ENV, Config};
use socure_shadow_proxy::{server, tls};
use socure_shadow_report as report;

const WORKFLOW: &str = "gsa2.chk32.test.wf";
const API_KEY: &str = "demo-fake-socure-key";
const INSTANT_VERIFY_PATH: &str =
    "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
const PHONE_FINDER_PATH: &str =
    "/restws/identity/v2/test_account/customers.gsa2.phonefinder.wf/conversation";
/// The demo's Socure timeout; the `SLOWPOKE` applicant takes longer.
const SOCURE_TIMEOUT: Duration = Duration::from_secs(1);
const SOCURE_SLOW: Duration = Duration::from_secs(3);

const LN_REQUEST: &str = include_str!("data/ln_request.json");
const LN_PASS: &str = include_str!("data/ln_successful_response.json");
const LN_ADDRESS_FAIL: &str = include_str!("data/ln_address_failure_response.json");
const LN_DOB_FAIL: &str = include_str!("data/ln_date_of_birth_failure_response.json");
const LN_ERROR: &str = include_str!("data/ln_error_response.json");
const PF_REQUEST: &str = include_str!("data/pf_request.json");
const PF_RESPONSE: &str = include_str!("data/pf_rdp2_response.json");
const SOCURE_PASS: &str = include_str!("data/socure_kyc_all_verified.json");
const SOCURE_ADDRESS: &str = include_str!("data/socure_kyc_address_not_verified.json");
const SOCURE_400: &str = include_str!("data/socure_error_400.json");
const SOCURE_401: &str = include_str!("data/socure_error_401.json");

/// One fake applicant: its name picks each fake vendor's answer.
struct Case {
    first_name: &'static str,
    last_name: &'static str,
    ssn: &'static str,
    what: &'static str,
}

const CASES: &[Case] = &[
    Case {
        first_name: "FAKEY",
        last_name: "MCFAKERSON",
        ssn: "900000001",
        what: "both vendors pass",
    },
    Case {
        first_name: "ADDRESSY",
        last_name: "ADDRESSFAIL",
        ssn: "900000002",
        what: "both fail on the address",
    },
    Case {
        first_name: "ADDRESSY",
        last_name: "MCFAKERSON",
        ssn: "900000008",
        what: "LexisNexis passes, Socure fails the address",
    },
    Case {
        first_name: "FAKEY",
        last_name: "DOBFAIL",
        ssn: "900000003",
        what: "LexisNexis fails the DOB, Socure passes",
    },
    Case {
        first_name: "BADREQ",
        last_name: "MCFAKERSON",
        ssn: "900000004",
        what: "Socure answers 400",
    },
    Case {
        first_name: "SLOWPOKE",
        last_name: "MCFAKERSON",
        ssn: "900000005",
        what: "Socure times out",
    },
    Case {
        first_name: "FAKEY",
        last_name: "ERRORSON",
        ssn: "900000006",
        what: "LexisNexis answers status error",
    },
    Case {
        first_name: "BROKEN",
        last_name: "DOWN",
        ssn: "900000007",
        what: "LexisNexis 503, Socure 500",
    },
];

/// Act two's applicant whose Socure call the fake holds until released.
const HOLD: Case = Case {
    first_name: "HOLDY",
    last_name: "MCFAKERSON",
    ssn: "900000009",
    what: "Socure holds the call",
};
/// Act two's applicant who arrives while the one Socure slot is taken.
const DROP: Case = Case {
    first_name: "DROPPY",
    last_name: "MCFAKERSON",
    ssn: "900000010",
    what: "dropped",
};
/// The fake Socure says when HOLDY's call has arrived, and answers it only
/// once released: act two's order is then a fact, not a race.
static HOLD_ARRIVED: Notify = Notify::const_new();
static HOLD_RELEASE: Semaphore = Semaphore::const_new(0);

pub async fn main(keep: Option<PathBuf>) -> ExitCode {
    match run(keep).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("demo failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo; `Ok(false)` when something did not come out as it must.
/// With `keep`, the lines are appended there and the file is left behind.
async fn run(keep: Option<PathBuf>) -> Result<bool, Box<dyn std::error::Error>> {
    let lexis_nexis = spawn_fake(fake_lexis_nexis).await?;
    let socure = spawn_fake(fake_socure).await?;
    let log_path = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("socure-shadow-demo-{}.log", uuid::Uuid::new_v4()))
    });
    // Lines already in a kept file are someone else's: read only what follows.
    let offset = tokio::fs::metadata(&log_path).await.map_or(0, |m| m.len());
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls::client_config(None, None)?)
        .no_proxy()
        .build()?;
    let mut demo = Demo {
        client,
        lexis_nexis,
        socure,
        log_path,
        sent: 0,
        unchanged: 0,
    };
    let acts = [demo.act_one().await?, demo.act_two().await?];

    let log_path = &demo.log_path;
    let text = read_from(log_path, offset).await?;
    let report = text_report(log_path);
    if keep.is_none() {
        let _ = tokio::fs::remove_file(log_path).await;
    }
    let lines = print_lines(&text)?;
    let ok = demo.summary(&lines, keep.as_deref());
    println!("\n{}", report?);
    // Every line the lines say was written, every mirror finished.
    let ok = ok
        && acts.iter().map(|act| act.sink.lines_written).sum::<u64>() == lines.len() as u64
        && acts.iter().map(|act| act.mirrors_unfinished).sum::<usize>() == 0;
    println!("{}", if ok { "demo ok" } else { "demo FAILED" });
    Ok(ok)
}

/// The shadow lines as the proxy wrote them, then each line's pair of
/// verdicts; the lines, parsed.
fn print_lines(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    println!("\nshadow lines, as the proxy wrote them:");
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    for line in text.lines() {
        println!("{line}");
    }
    println!("\npaired verdicts:");
    for line in &lines {
        let props = &line["properties"];
        let event = &props["event_properties"];
        println!(
            "  user {:<38} LexisNexis {:<34} Socure {} ({})",
            props["user_id"].as_str().unwrap_or("-"),
            verdict(&event["resolution_result"]["context"]["stages"]["resolution"]),
            verdict(&event["socure_result"]),
            event["socure_outcome"].as_str().unwrap_or("-"),
        );
    }
    Ok(lines)
}

/// Sends the demo's requests and keeps count of what came back unchanged.
struct Demo {
    client: reqwest::Client,
    lexis_nexis: SocketAddr,
    socure: SocketAddr,
    log_path: PathBuf,
    sent: usize,
    unchanged: usize,
}

impl Demo {
    /// Act one: every verdict pair, all at once, as a busy IdV pod would send them.
    async fn act_one(&mut self) -> Result<server::RunReport, Box<dyn std::error::Error>> {
        let config = demo_config(self.lexis_nexis, self.socure, &self.log_path, None)?;
        let proxy = server::start(config).await?;
        let base = format!("http://{}", proxy.local_addr());
        println!(
            "fake LexisNexis on {}, fake Socure on {}, proxy on {}\n",
            self.lexis_nexis,
            self.socure,
            proxy.local_addr()
        );
        let mut requests: Vec<(String, String, String)> = CASES
            .iter()
            .map(|case| {
                (
                    INSTANT_VERIFY_PATH.to_owned(),
                    applicant_body(case),
                    format!("{} {}: {}", case.first_name, case.last_name, case.what),
                )
            })
            .collect();
        requests.push((
            PHONE_FINDER_PATH.to_owned(),
            PF_REQUEST.to_owned(),
            "PhoneFinder request (never shadowed)".to_owned(),
        ));
        // No answer waits for Socure, so these all come back at LexisNexis's pace.
        let answers = futures_util::future::join_all(
            requests
                .iter()
                .map(|(path, body, _)| self.send(&base, path, body)),
        )
        .await;
        for ((path, body, who), answer) in requests.iter().zip(answers) {
            self.check(path, body, who, answer?);
        }
        Ok(proxy.shutdown().await)
    }

    /// Act two: Socure busy, and an applicant who tries again.
    async fn act_two(&mut self) -> Result<server::RunReport, Box<dyn std::error::Error>> {
        println!(
            "\nact two: shadow.max_in_flight = 1 and shadow.dedup_window_seconds = 60; Socure holds {}'s call",
            HOLD.first_name
        );
        let config = demo_config(self.lexis_nexis, self.socure, &self.log_path, Some(BUSY))?;
        let proxy = server::start(config).await?;
        let base = format!("http://{}", proxy.local_addr());
        let held = applicant_body(&HOLD);
        self.send_and_check(&base, &held, "HOLDY MCFAKERSON: Socure takes its time")
            .await?;
        // The one Socure slot is taken from here until the release below.
        HOLD_ARRIVED.notified().await;
        self.send_and_check(
            &base,
            &applicant_body(&DROP),
            "DROPPY MCFAKERSON: no Socure slot free, dropped",
        )
        .await?;
        // A call waits a moment for a place before it is dropped: HOLDY's
        // place is kept until DROPPY's mirror has given up on it.
        dropped_for_capacity(&proxy).await;
        self.send_and_check(
            &base,
            &held,
            "HOLDY MCFAKERSON again: a duplicate, no second call",
        )
        .await?;
        HOLD_RELEASE.add_permits(1);
        Ok(proxy.shutdown().await)
    }

    /// One InstantVerify request, its answer checked.
    async fn send_and_check(
        &mut self,
        base: &str,
        body: &str,
        who: &str,
    ) -> Result<(), reqwest::Error> {
        let answer = self.send(base, INSTANT_VERIFY_PATH, body).await?;
        self.check(INSTANT_VERIFY_PATH, body, who, answer);
        Ok(())
    }

    /// Prints the counts; whether they are what the demo must give.
    fn summary(&self, lines: &[Value], keep: Option<&std::path::Path>) -> bool {
        let expected_lines = CASES.len() + 2 + 1;
        let outcome = |name: &str| {
            lines
                .iter()
                .filter(|l| l["properties"]["event_properties"]["socure_outcome"] == name)
                .count()
        };
        println!("\nsummary");
        println!("  requests sent            {}", self.sent);
        println!("  answered unchanged       {}", self.unchanged);
        println!(
            "  shadow lines written     {} (expected {expected_lines})",
            lines.len()
        );
        println!(
            "  dropped, duplicate       {}, {}",
            outcome("dropped"),
            outcome("duplicate")
        );
        if let Some(path) = keep {
            println!(
                "  kept in                  {} (try: socure-shadow-proxy report {0})",
                path.display()
            );
        }
        self.unchanged == self.sent
            && lines.len() == expected_lines
            && outcome("dropped") == 1
            && outcome("duplicate") == 1
    }

    async fn send(
        &self,
        base: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, Bytes), reqwest::Error> {
        let response = self
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?))
    }

    /// Compares an answer with what the fake LexisNexis sent, and says so.
    fn check(&mut self, path: &str, body: &str, who: &str, (status, bytes): (u16, Bytes)) {
        let (expected_status, expected_body) = lexis_nexis_answer(path, body.as_bytes());
        let same = status == expected_status.as_u16() && bytes == expected_body;
        self.sent += 1;
        self.unchanged += usize::from(same);
        println!(
            "client got {status} {} ({who})",
            if same { "unchanged" } else { "CHANGED" }
        );
    }
}

/// The log's text from `offset` on.
async fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<String> {
    let bytes = tokio::fs::read(path).await?;
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[start..]).into_owned())
}

/// The `report` command's text over the log: this run's lines, and a kept
/// file's earlier ones, as `report PATH` would read them.
fn text_report(log: &std::path::Path) -> Result<String, report::ReportError> {
    let options = report::Options {
        sources: vec![report::input::Source::File(log.to_owned())],
        window: report::tally::Window::default(),
        format: report::Format::Text,
        out: None,
        top: report::DEFAULT_TOP,
        stats: false,
        decision: Default::default(),
    };
    report::render(&report::tally(&options)?, report::Format::Text)
}

/// One result in a few words.
fn verdict(result: &Value) -> String {
    if result.is_null() {
        return "not called".into();
    }
    if let Some(exception) = result["exception"].as_str() {
        return format!("error: {exception}");
    }
    match result["success"].as_bool() {
        Some(true) => "pass".into(),
        _ => {
            let attributes = &result["attributes_requiring_additional_verification"];
            match attributes.as_array().filter(|a| !a.is_empty()) {
                Some(a) => format!("fail {}", Value::Array(a.clone())),
                None => "fail".into(),
            }
        }
    }
}

/// Act two's limits: one Socure call at a time, and a duplicate window.
#[derive(Clone, Copy)]
struct Busy {
    max_in_flight: usize,
    dedup_window_seconds: u64,
}

const BUSY: Busy = Busy {
    max_in_flight: 1,
    dedup_window_seconds: 60,
};

/// The proxy's configuration for the demo, through the same loading and
/// validation as a config file: shadow mode on, everything on loopback.
fn demo_config(
    lexis_nexis: SocketAddr,
    socure: SocketAddr,
    log_path: &std::path::Path,
    busy: Option<Busy>,
) -> Result<Config, Box<dyn std::error::Error>> {
    // Act two's call is held until released, so its timeout must not end it first.
    let (max_in_flight, dedup_window_seconds, socure_timeout) = match busy {
        Some(b) => (b.max_in_flight, b.dedup_window_seconds, 30.0),
        None => (64, 0, SOCURE_TIMEOUT.as_secs_f64()),
    };
    let toml = format!(
        r#"
[listen]
address = "127.0.0.1:0"
max_request_body_bytes = 1048576
max_connections = 64

[admin]
address = "127.0.0.1:0"

[upstream]
base_url = "http://{lexis_nexis}"
timeout_seconds = 10
connect_timeout_seconds = 2
resolve = "system"

[shadow]
enabled = true
instant_verify_workflow = "{WORKFLOW}"
log_path = {log_path}
max_in_flight = {max_in_flight}
dedup_window_seconds = {dedup_window_seconds}

[socure]
base_url = "http://{socure}"
timeout_seconds = {socure_timeout}
"#,
        // A TOML string, quoted and escaped, whatever the temp dir's name.
        log_path = toml::Value::String(log_path.display().to_string()),
    );
    let env = std::collections::HashMap::from([(API_KEY_ENV.to_owned(), API_KEY.to_owned())]);
    Config::from_toml(&toml, &env).map_err(|err| err.lines().join("; ").into())
}

/// The fixture request with a fake applicant's name and SSN.
fn applicant_body(case: &Case) -> String {
    let mut body: Value = serde_json::from_str(LN_REQUEST).unwrap_or(Value::Null);
    body["Person"]["Name"]["FirstName"] = case.first_name.into();
    body["Person"]["Name"]["LastName"] = case.last_name.into();
    body["Person"]["SSN"]["Number"] = case.ssn.into();
    // A distinct fake user uuid per applicant, as the IdP's `sp:uuid` reference.
    body["Settings"]["Reference"] =
        format!("demo:00000000-0000-4000-8000-{:0>12}", case.ssn).into();
    body.to_string()
}

/// What the fake LexisNexis answers: by path, then by the applicant's last name.
fn lexis_nexis_answer(path: &str, body: &[u8]) -> (StatusCode, Bytes) {
    if path.contains("phonefinder") {
        return (StatusCode::OK, Bytes::from_static(PF_RESPONSE.as_bytes()));
    }
    let last_name = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["Person"]["Name"]["LastName"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let fixture = match last_name.as_str() {
        "ADDRESSFAIL" => LN_ADDRESS_FAIL,
        "DOBFAIL" => LN_DOB_FAIL,
        "ERRORSON" => LN_ERROR,
        "DOWN" => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"maintenance\n"),
            );
        }
        _ => LN_PASS,
    };
    (StatusCode::OK, Bytes::from_static(fixture.as_bytes()))
}

async fn fake_lexis_nexis(request: http::request::Parts, body: Bytes) -> (StatusCode, Bytes) {
    lexis_nexis_answer(request.uri.path(), &body)
}

/// What the fake Socure answers: 401 without the demo key, else by first name.
async fn fake_socure(request: http::request::Parts, body: Bytes) -> (StatusCode, Bytes) {
    let authorized = request
        .headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("SocureApiKey {API_KEY}").as_bytes());
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Bytes::from_static(SOCURE_401.as_bytes()),
        );
    }
    let first_name = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["firstName"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let fixture = match first_name.as_str() {
        "ADDRESSY" => SOCURE_ADDRESS,
        "BADREQ" => {
            return (
                StatusCode::BAD_REQUEST,
                Bytes::from_static(SOCURE_400.as_bytes()),
            );
        }
        "BROKEN" => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(b"It works!"),
            );
        }
        "HOLDY" => {
            HOLD_ARRIVED.notify_one();
            // Closed never; a failed acquire would only answer early.
            let _ = HOLD_RELEASE.acquire().await;
            SOCURE_PASS
        }
        "SLOWPOKE" => {
            tokio::time::sleep(SOCURE_SLOW).await;
            SOCURE_PASS
        }
        _ => SOCURE_PASS,
    };
    (StatusCode::OK, Bytes::from_static(fixture.as_bytes()))
}

/// Serves `answer` on 127.0.0.1, port 0, until the process ends.
async fn spawn_fake<F, Fut>(answer: F) -> std::io::Result<SocketAddr>
where
    F: Fn(http::request::Parts, Bytes) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = (StatusCode, Bytes)> + Send + 'static,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |request: Request<Incoming>| async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let (status, body) = answer(parts, body).await;
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Ok(address)
}

/// Returns once the proxy has dropped a call for want of a place among the
/// calls in flight (its counter, polled: the demo has no other way in), or
/// after ten seconds, when the summary will say what went wrong.
async fn dropped_for_capacity(proxy: &server::Running) {
    const DROPPED: &str = "socure_shadow_proxy_mirrors_not_sent_total{reason=\"max_in_flight\"} 1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !proxy.metrics().render().lines().any(|line| line == DROPPED)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
