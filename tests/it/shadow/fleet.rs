//! The fleet's shared state against a real `redis-server`: replicas racing for one daily budget get exactly it; a Redis that is gone or silent fails each call within its timeout, and the fleet recovers when Redis is back.

use std::time::Duration;

use socure_shadow_proxy::{Fleet, FleetError};

use crate::support::redis_server::RedisServer;
use crate::support::*;

fn fleet(url: &str, timeout: Duration) -> Fleet {
    let client = redis::Client::open(url).expect("a redis URL");
    Fleet::new(client, timeout, "test")
}

/// A "Redis" that accepts connections and never says a word: its URL, and
/// the task holding its connections open.
async fn silent_redis() -> (String, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("redis://{}/", silent.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    (url, held)
}

fn day() -> time::Date {
    time::macros::date!(2026 - 12 - 02)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_racing_get_exactly_the_budget() {
    let redis = RedisServer::start();
    let replicas: Vec<Fleet> = (0..3)
        .map(|_| fleet(&redis.url(), Duration::from_secs(2)))
        .collect();
    let calls = (0..300).map(|i| replicas[i % 3].reserve_call(day(), 100));
    let results = tokio::time::timeout(TEST_BOUND, futures_util::future::join_all(calls))
        .await
        .expect("300 reservations in time");
    let granted = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let refused = results.iter().filter(|r| matches!(r, Ok(false))).count();
    assert_eq!((granted, refused), (100, 200), "{results:?}");
    // Another day has a budget of its own.
    assert!(
        replicas[0]
            .reserve_call(time::macros::date!(2026 - 12 - 03), 100)
            .await
            .expect("granted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_gone_fails_each_call_in_time_and_the_fleet_recovers() {
    let redis = RedisServer::start();
    let fleet = fleet(&redis.url(), Duration::from_millis(200));
    assert!(fleet.reserve_call(day(), 10).await.expect("up"));
    let port = redis.stop();
    let down = tokio::time::timeout(TEST_BOUND, fleet.reserve_call(day(), 10))
        .await
        .expect("a call returns while redis is down");
    assert!(down.is_err(), "{down:?}");

    let _back = RedisServer::start_on(port);
    // The connection comes back by itself; the first calls may still fail
    // while it does. Bounded: each attempt is, and so is the whole.
    let recovered = tokio::time::timeout(TEST_BOUND, async {
        loop {
            if let Ok(granted) = fleet.reserve_call(day(), 10).await {
                break granted;
            }
        }
    })
    .await
    .expect("recovered without a restart");
    // A fresh redis: the day's count starts again.
    assert!(recovered);
}

#[tokio::test]
async fn a_redis_that_never_answers_times_out() {
    // Accepts connections and never says a word.
    let (url, held) = silent_redis().await;
    let fleet = fleet(&url, Duration::from_millis(100));
    let result = tokio::time::timeout(TEST_BOUND, fleet.reserve_call(day(), 10))
        .await
        .expect("the call returns");
    assert!(matches!(result, Err(FleetError::Timeout(_))), "{result:?}");
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_applicant_on_two_replicas_is_claimed_once() {
    let redis = RedisServer::start();
    let (a, b) = (
        fleet(&redis.url(), Duration::from_secs(2)),
        fleet(&redis.url(), Duration::from_secs(2)),
    );
    let window = Duration::from_secs(60);
    let applicant = [7u8; 32];
    assert_eq!(
        a.claim_applicant(&applicant, "line-1", window)
            .await
            .expect("up"),
        None,
        "the first line"
    );
    assert_eq!(
        b.claim_applicant(&applicant, "line-2", window)
            .await
            .expect("up"),
        Some("line-1".to_owned()),
        "the other replica points at the first line"
    );
    assert_eq!(
        b.claim_applicant(&[8u8; 32], "line-3", window)
            .await
            .expect("up"),
        None,
        "another applicant"
    );
    // Racing: of twenty claims of a new applicant at once, one is first
    // and the rest name it.
    let racing = (0..20).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.claim_applicant(&[9u8; 32], if i % 2 == 0 { "even" } else { "odd" }, window)
    });
    let results: Vec<Option<String>> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(|r| r.expect("up"))
        .collect();
    let firsts = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(firsts, 1, "{results:?}");
    let named: std::collections::BTreeSet<&Option<String>> =
        results.iter().filter(|r| r.is_some()).collect();
    assert_eq!(named.len(), 1, "all name the one first line: {results:?}");
}

/// A proxy in front of `upstream` and `socure` with `fleet` as its
/// `[fleet]` keys.
async fn fleet_proxy(
    upstream: std::net::SocketAddr,
    socure: std::net::SocketAddr,
    fleet: String,
    options: Options,
    env: &[(&str, &str)],
) -> TestProxy {
    TestProxy::from_toml_with_env(
        |log| format!("{}\n[fleet]\n{fleet}", options.toml(upstream, socure, log)),
        env,
    )
    .await
}

/// The `[fleet]` keys for `url`, each call bounded by `timeout_ms`.
fn redis_at(url: &str, timeout_ms: u64) -> String {
    format!("redis_url = \"{url}\"\ntimeout_ms = {timeout_ms}\n")
}

/// Options with a daily budget of `calls`.
fn budget(calls: u64) -> Options {
    Options {
        max_calls_per_day: Some(calls),
        ..Options::default()
    }
}

async fn passing_vendors() -> (FakeVendor, FakeVendor) {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    (upstream, socure)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_share_one_budget_of_a_hundred_calls() {
    let redis = RedisServer::start();
    let (upstream, socure) = passing_vendors().await;
    let mut proxies = Vec::new();
    for _ in 0..3 {
        proxies.push(
            fleet_proxy(
                upstream.addr,
                socure.addr,
                redis_at(&redis.url(), 2000),
                budget(100),
                &[],
            )
            .await,
        );
    }
    // 300 distinct applicants, a third through each proxy, all at once.
    let sends = (0..300).map(|n| {
        let addr = proxies[n % 3].addr;
        async move { send(addr, &distinct_applicant(n)).await.status() }
    });
    let statuses = tokio::time::timeout(TEST_BOUND, futures_util::future::join_all(sends))
        .await
        .expect("300 answers in time");
    assert!(statuses.iter().all(|s| *s == 200));
    let mut lines = Vec::new();
    let mut granted = 0.0;
    for proxy in proxies {
        let (more, metrics) = proxy.finish_with_metrics().await;
        lines.extend(more);
        granted += metric(
            &metrics,
            "socure_shadow_proxy_fleet_calls_total{call=\"reserve\",result=\"granted\"}",
        );
    }
    assert_eq!(granted, 100.0, "the reservations each proxy counted");
    let outcome = |name: &str| {
        lines
            .iter()
            .filter(|l| event(l)["socure_outcome"] == name)
            .count()
    };
    assert_eq!(lines.len(), 300);
    assert_eq!(outcome("answered"), 100);
    assert_eq!(outcome("budget_exhausted"), 200);
    assert_eq!(
        socure.requests().len(),
        100,
        "Socure billed exactly the budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_applicant_through_two_proxies_makes_one_call() {
    let redis = RedisServer::start();
    let (upstream, socure) = passing_vendors().await;
    let env = [("SHADOW_PROXY_DEDUP_KEY", "fake-shared-dedup-key")];
    let options = || Options {
        dedup_window_seconds: 60.0,
        ..Options::default()
    };
    let start = || {
        fleet_proxy(
            upstream.addr,
            socure.addr,
            redis_at(&redis.url(), 2000),
            options(),
            &env,
        )
    };
    let (a, b) = (start().await, start().await);
    assert_eq!(send(a.addr, &distinct_applicant(1)).await.status(), 200);
    // A's claim comes before its Socure call: once the call has arrived,
    // B's mirror can only find it.
    socure.wait_for_requests(1).await;
    assert_eq!(send(b.addr, &distinct_applicant(1)).await.status(), 200);
    let first = a.finish().await;
    let second = b.finish().await;
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_eq!(event(&first[0])["socure_outcome"], "answered");
    assert_eq!(event(&second[0])["socure_outcome"], "duplicate");
    assert_eq!(event(&second[0])["duplicate_of"], first[0]["id"]);
    assert_eq!(socure.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_policy_skips_the_call_and_forwarding_goes_on() {
    // Nothing listens at this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (upstream, socure) = passing_vendors().await;
    let url = format!("redis://127.0.0.1:{port}/");
    let proxy = fleet_proxy(
        upstream.addr,
        socure.addr,
        redis_at(&url, 100),
        budget(100),
        &[],
    )
    .await;
    let answer = send(proxy.addr, &distinct_applicant(1)).await;
    assert_eq!(answer.status(), 200, "forwarded as always");
    // The user's path does not depend on Redis: still ready.
    assert_eq!(admin_get(proxy.admin, "/readyz").await.0, 200);
    let (lines, metrics) = proxy.finish_with_metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "socure_shadow_proxy_fleet_calls_total{call=\"reserve\",result=\"error\"}"
        ),
        1.0
    );
    assert_eq!(event(&lines[0])["socure_outcome"], "not_sent");
    let reason = event(&lines[0])["socure_not_sent_reason"]
        .as_str()
        .expect("a reason");
    assert!(reason.starts_with("fleet_state_unavailable: "), "{reason}");
    assert!(socure.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_is_verified_against_the_given_ca_and_refused_without_it() {
    let pki = crate::support::tls::TestPki::new("redis");
    let leaf = pki.leaf("redis", &["127.0.0.1"]);
    let redis = RedisServer::start_tls(&leaf.cert_file, &leaf.key_file);
    let url = format!("rediss://127.0.0.1:{}/", redis.port);
    let ca = std::fs::read(&pki.ca_cert).expect("the test CA");
    let trusting = Fleet::new(
        redis::Client::build_with_tls(
            url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca),
            },
        )
        .expect("a TLS client"),
        Duration::from_secs(2),
        "tls",
    );
    assert!(trusting.reserve_call(day(), 1).await.expect("over TLS"));
    // The web PKI roots alone do not know the test CA.
    let stranger = fleet(&url, Duration::from_secs(2));
    let refused = stranger.reserve_call(day(), 1).await;
    let message = match refused {
        Err(FleetError::Redis(err)) => err.to_string(),
        other => panic!("expected a TLS refusal, got {other:?}"),
    };
    assert!(message.contains("UnknownIssuer"), "{message}");
}

/// The proxy's budget reservations so far: (granted, failed).
async fn reservations(admin: std::net::SocketAddr) -> (f64, f64) {
    let (_, text) = admin_get(admin, "/metrics").await;
    let series = |result: &str| {
        metric(
            &text,
            &format!(
                "socure_shadow_proxy_fleet_calls_total{{call=\"reserve\",result=\"{result}\"}}"
            ),
        )
    };
    (series("granted"), series("error"))
}

/// Sends applicant `n` and waits (bounded) until its mirror has asked
/// Redis; returns the reservations then.
async fn send_and_reserve(proxy: &TestProxy, n: usize, upstream_answer: &[u8]) -> (f64, f64) {
    let before = reservations(proxy.admin).await;
    let answer = send(proxy.addr, &distinct_applicant(n)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body, upstream_answer, "the upstream's bytes");
    tokio::time::timeout(TEST_BOUND, async {
        loop {
            let now = reservations(proxy.admin).await;
            if now.0 + now.1 > before.0 + before.1 {
                break now;
            }
        }
    })
    .await
    .expect("the mirror asked Redis in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_run_skips_calls_then_the_proxy_recovers_by_itself() {
    let redis = RedisServer::start();
    let (upstream, socure) = passing_vendors().await;
    let answer = fixture("lexis_nexis/instant_verify/successful_response.json");
    let options = budget(1000);
    let proxy = fleet_proxy(
        upstream.addr,
        socure.addr,
        redis_at(&redis.url(), 2000),
        options,
        &[],
    )
    .await;
    assert_eq!(send_and_reserve(&proxy, 0, &answer).await, (1.0, 0.0));

    let port = redis.stop();
    // Forwarded as always while Redis is gone; each mirror skips its call.
    for n in 1..4 {
        assert_eq!(send_and_reserve(&proxy, n, &answer).await, (1.0, n as f64));
    }
    let _back = RedisServer::start_on(port);
    // Back without a restart: a later applicant is called again (bounded).
    let mut n = 4;
    tokio::time::timeout(TEST_BOUND, async {
        while send_and_reserve(&proxy, n, &answer).await.0 < 2.0 {
            n += 1;
        }
    })
    .await
    .expect("a call granted again after Redis came back");
    let (granted, failed) = reservations(proxy.admin).await;
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), n + 1);
    let unavailable = lines
        .iter()
        .filter(|l| {
            event(l)["socure_not_sent_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("fleet_state_unavailable: "))
        })
        .count();
    assert_eq!(unavailable as f64, failed);
    assert!(failed >= 3.0);
    assert_eq!(granted, 2.0);
    assert_eq!(socure.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_redis_leaves_forwarding_alone_and_the_mirror_gives_up_in_time() {
    let (url, held) = silent_redis().await;
    let (upstream, socure) = passing_vendors().await;
    let proxy = fleet_proxy(
        upstream.addr,
        socure.addr,
        redis_at(&url, 2000),
        budget(100),
        &[],
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(send(proxy.addr, &distinct_applicant(1)).await.status(), 200);
    // A generous bound: waiting for the silent Redis would take its 2 s.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the answer waited: {:?}",
        started.elapsed()
    );
    let lines = proxy.finish().await;
    assert_eq!(
        event(&lines[0])["socure_not_sent_reason"],
        "fleet_state_unavailable: redis did not answer within 2s"
    );
    assert!(socure.requests().is_empty());
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_reaches_rediss_through_fleet_ca_file_and_not_without_it() {
    let pki = crate::support::tls::TestPki::new("fleet");
    let leaf = pki.leaf("redis", &["127.0.0.1"]);
    let redis = RedisServer::start_tls(&leaf.cert_file, &leaf.key_file);
    let (upstream, socure) = passing_vendors().await;
    let url = format!("rediss://127.0.0.1:{}/", redis.port);
    let proxy_with = |ca: Option<&std::path::Path>| {
        let ca_line = ca.map_or_else(String::new, |ca| {
            format!("ca_file = \"{}\"\n", ca.display())
        });
        let keys = redis_at(&url, 2000) + &ca_line;
        fleet_proxy(upstream.addr, socure.addr, keys, budget(10), &[])
    };
    let trusting = proxy_with(Some(&pki.ca_cert)).await;
    assert_eq!(
        send(trusting.addr, &distinct_applicant(1)).await.status(),
        200
    );
    let lines = trusting.finish().await;
    assert_eq!(event(&lines[0])["socure_outcome"], "answered", "{lines:?}");

    let stranger = proxy_with(None).await;
    assert_eq!(
        send(stranger.addr, &distinct_applicant(2)).await.status(),
        200
    );
    let lines = stranger.finish().await;
    let reason = event(&lines[0])["socure_not_sent_reason"]
        .as_str()
        .expect("not sent");
    assert!(
        reason.starts_with("fleet_state_unavailable: ") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_error_local_the_process_budget_stands_in_while_redis_is_gone() {
    // Nothing listens at this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (upstream, socure) = passing_vendors().await;
    let keys = redis_at(&format!("redis://127.0.0.1:{port}/"), 100) + "on_error = \"local\"\n";
    let proxy = fleet_proxy(upstream.addr, socure.addr, keys, budget(2), &[]).await;
    // Whichever two mirrors come first get the process's two calls.
    for n in 0..3 {
        assert_eq!(send(proxy.addr, &distinct_applicant(n)).await.status(), 200);
    }
    let (lines, metrics) = proxy.finish_with_metrics().await;
    let outcome = |name: &str| {
        lines
            .iter()
            .filter(|l| event(l)["socure_outcome"] == name)
            .count()
    };
    assert_eq!((outcome("answered"), outcome("budget_exhausted")), (2, 1));
    assert_eq!(socure.requests().len(), 2);
    assert_eq!(
        metric(
            &metrics,
            "socure_shadow_proxy_fleet_calls_total{call=\"reserve\",result=\"error\"}"
        ),
        3.0
    );
}

/// A connection of the test's own to `redis`, beside the fleet's, that
/// waits for an answer as long as the tests' bound.
async fn direct(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    let patient = redis::AsyncConnectionConfig::new().set_response_timeout(Some(TEST_BOUND));
    redis::Client::open(redis.url())
        .expect("a redis URL")
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .expect("connect to redis")
}

/// `day`'s budget counter as Redis holds it for the tests' own fleets (0
/// when there is none).
async fn counter(redis: &RedisServer, day: time::Date) -> i64 {
    counter_under(redis, "test", day).await
}

/// `day`'s budget counter under `prefix`.
async fn counter_under(redis: &RedisServer, prefix: &str, day: time::Date) -> i64 {
    let used: Option<i64> = redis::cmd("GET")
        .arg(format!("{prefix}:budget:{day}"))
        .query_async(&mut direct(redis).await)
        .await
        .expect("GET");
    used.unwrap_or(0)
}

/// Every key in `redis` has an expiry, and none names anything but a day's
/// counter or a reservation's random token.
async fn every_key_expires_and_names_no_one(redis: &RedisServer) {
    let mut connection = direct(redis).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .expect("KEYS");
    assert!(!keys.is_empty());
    for key in keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .expect("TTL");
        assert!(ttl > 0, "{key} expires ({ttl})");
        let shape = key.starts_with("test:budget:20")
            || (key.starts_with("{test:budget:20") && key.contains("}:reservation:"));
        assert!(shape, "{key}");
    }
}

/// Holds every client's commands in `redis` for `ms`, then runs them:
/// a stall, as under `DEBUG SLEEP` or a stopped process, in force once
/// this returns.
async fn stall(redis: &RedisServer, ms: u64) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("ALL")
        .query_async(&mut direct(redis).await)
        .await
        .expect("CLIENT PAUSE");
}

/// Returns once `redis` answers again after a [`stall`].
async fn stall_over(redis: &RedisServer) {
    let _: () = redis::cmd("PING")
        .query_async(&mut direct(redis).await)
        .await
        .expect("PING");
}

/// Redis stalls (every command waits, as under `DEBUG SLEEP` or a stopped
/// process) while twenty reservations time out; once it resumes, the
/// grants it then runs are withdrawn, and the day's counter holds only the
/// calls granted in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_that_time_out_in_a_stall_are_not_counted_when_redis_resumes() {
    let redis = RedisServer::start();
    let fleet = fleet(&redis.url(), Duration::from_millis(250));
    assert!(fleet.reserve_call(day(), 100).await.expect("up"));
    stall(&redis, 2000).await;
    let stalled =
        futures_util::future::join_all((0..20).map(|_| fleet.reserve_call(day(), 100))).await;
    let timed_out = stalled
        .iter()
        .filter(|r| matches!(r, Err(FleetError::Timeout(_))))
        .count();
    // Each was sent long before the pause ends; one that still got its
    // answer in time would count, rightly.
    let in_time = stalled.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(timed_out + in_time, 20, "{stalled:?}");
    assert!(timed_out > 0, "the stall made reservations time out");
    stall_over(&redis).await;
    tokio::time::timeout(TEST_BOUND, fleet.withdrawals_settled())
        .await
        .expect("the withdrawals ended in time");
    assert!(fleet.reserve_call(day(), 100).await.expect("up again"));
    assert_eq!(
        counter(&redis, day()).await,
        2 + in_time as i64,
        "only the calls granted in time count ({timed_out} timed out)"
    );
    every_key_expires_and_names_no_one(&redis).await;
}

/// A withdrawal and its grant in either order leave the reservation
/// uncounted; a call given back frees its place for the next; a
/// reservation goes back to its own day's budget, whatever the day is when
/// it is withdrawn; and racing grants and withdrawals on two replicas end
/// with the counter at the grants that stood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_before_or_after_its_grant_leaves_it_uncounted() {
    let redis = RedisServer::start();
    let (a, b) = (
        fleet(&redis.url(), Duration::from_secs(2)),
        fleet(&redis.url(), Duration::from_secs(2)),
    );
    // Granted, then withdrawn: the call goes back to a budget of one.
    let first = a.reservation(day());
    assert!(a.reserve(&first, 1).await.expect("up"));
    assert!(!a.reserve_call(day(), 1).await.expect("up"), "used up");
    assert!(b.withdraw(&first).await.expect("up"), "given back");
    assert_eq!(counter(&redis, day()).await, 0);
    assert!(
        !a.reserve(&first, 1).await.expect("up"),
        "a withdrawn reservation is never granted again"
    );
    assert!(
        !b.withdraw(&first).await.expect("up"),
        "nor given back twice"
    );
    // Withdrawn before its grant runs: the grant does nothing.
    let second = a.reservation(day());
    assert!(
        !b.withdraw(&second).await.expect("up"),
        "nothing to give back"
    );
    assert!(!a.reserve(&second, 1).await.expect("up"));
    assert_eq!(counter(&redis, day()).await, 0);
    assert!(
        a.reserve_call(day(), 1).await.expect("up"),
        "the place is still free"
    );
    assert_eq!(counter(&redis, day()).await, 1);

    // Reserved on one day, withdrawn after midnight: its own day gets it back.
    let next_day = day().next_day().expect("a next day");
    let late = a.reservation(next_day);
    assert!(a.reserve(&late, 10).await.expect("up"));
    assert!(
        a.reserve_call(day().next_day().expect("a day"), 10)
            .await
            .expect("up")
    );
    assert!(b.withdraw(&late).await.expect("up"));
    assert_eq!(counter(&redis, next_day).await, 1);
    assert_eq!(counter(&redis, day()).await, 1, "the other day untouched");

    // Racing: each of 100 reservations granted on one replica and withdrawn
    // on the other at once, in whichever order Redis runs them; 50 more
    // only granted.
    let race_day = time::macros::date!(2026 - 12 - 04);
    let reservations: Vec<_> = (0..150).map(|_| a.reservation(race_day)).collect();
    let racing = reservations.iter().enumerate().map(|(i, reservation)| {
        let (a, b) = (&a, &b);
        async move {
            if i < 100 {
                let (granted, withdrawn) =
                    tokio::join!(a.reserve(reservation, 1000), b.withdraw(reservation));
                granted.expect("up");
                withdrawn.expect("up");
            } else {
                assert!(a.reserve(reservation, 1000).await.expect("up"));
            }
        }
    });
    tokio::time::timeout(TEST_BOUND, futures_util::future::join_all(racing))
        .await
        .expect("the race ended in time");
    assert_eq!(counter(&redis, race_day).await, 50);
    every_key_expires_and_names_no_one(&redis).await;
}

/// Through a proxy: an applicant's reservation times out in a Redis stall
/// (the line says so, the answer does not wait), and once Redis resumes the
/// proxy takes it back (counted), so the day's counter holds only the call
/// made. The timeout is a second, not less: the first reservation also
/// makes the proxy's connection to Redis, which on a loaded machine can
/// take a few hundred milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_takes_back_a_reservation_that_timed_out_in_a_stall() {
    let redis = RedisServer::start();
    let (upstream, socure) = passing_vendors().await;
    let answer = fixture("lexis_nexis/instant_verify/successful_response.json");
    let proxy = fleet_proxy(
        upstream.addr,
        socure.addr,
        redis_at(&redis.url(), 1000),
        budget(100),
        &[],
    )
    .await;
    assert_eq!(send_and_reserve(&proxy, 0, &answer).await, (1.0, 0.0));
    stall(&redis, 4000).await;
    assert_eq!(send_and_reserve(&proxy, 1, &answer).await, (1.0, 1.0));
    stall_over(&redis).await;
    let returned = "socure_shadow_proxy_fleet_calls_total{call=\"withdraw\",result=\"returned\"}";
    tokio::time::timeout(TEST_BOUND, async {
        while metric(&admin_get(proxy.admin, "/metrics").await.1, returned) < 1.0 {}
    })
    .await
    .expect("the reservation was taken back in time");
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(counter_under(&redis, "socure-shadow", today).await, 1);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 2);
    let reasons: Vec<&str> = lines
        .iter()
        .filter_map(|l| event(l)["socure_not_sent_reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["fleet_state_unavailable: redis did not answer within 1s"]
    );
    assert_eq!(socure.requests().len(), 1);
}
