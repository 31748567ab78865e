//! The fake LexisNexis's side: the InstantVerify paths and requests the IdP sends, and an upstream that records raw bytes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::{TEST_BOUND, fixture, fixture_json, request};

pub const WORKFLOW: &str = "gsa2.chk32.test.wf";
pub const IV_PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
pub const PF_PATH: &str =
    "/restws/identity/v2/test_account/customers.gsa2.phonefinder.wf/conversation";

/// The fixture request for a fake user `n` (a 900-series SSN, a uuid of
/// zeros and `n`), so each user is a distinct applicant.
pub fn distinct_applicant(n: usize) -> Vec<u8> {
    let mut body = fixture_json("lexis_nexis/instant_verify/request.json");
    body["Settings"]["Reference"] = format!("fake-sp:00000000-0000-4000-8000-{n:012}").into();
    body["Person"]["SSN"]["Number"] = format!("900{:06}", n % 1_000_000).into();
    iv_post(body.to_string().as_bytes())
}

/// A JSON POST of `body` to the InstantVerify path.
pub fn iv_post(body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        IV_PATH,
        &[("Content-Type", "application/json")],
        body,
    )
}

/// The fixture InstantVerify request as the IdP would send it.
pub fn instant_verify_request() -> Vec<u8> {
    request(
        "POST",
        IV_PATH,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Basic ZmFrZTpmYWtl"),
        ],
        &fixture("lexis_nexis/instant_verify/request.json"),
    )
}

/// `n` fixture InstantVerify requests to `addr`, one after another, each on
/// a new connection, each answered 200.
pub async fn forward_fixture_requests(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        assert_eq!(
            super::send(addr, &instant_verify_request()).await.status(),
            200
        );
    }
}

/// An upstream that never answers and records the raw bytes of each
/// connection, to see what a request that failed on its way looked like on
/// the wire (a [`FakeVendor`] records only whole messages).
pub struct RawUpstream {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<RawConnection>>>,
    changed: Arc<Notify>,
}

/// What a [`RawUpstream`] saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct RawConnection {
    pub bytes: Vec<u8>,
    /// Whether the proxy has closed it.
    pub closed: bool,
}

impl RawUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind raw upstream");
        let addr = listener.local_addr().expect("raw upstream address");
        let connections = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let (record, notify) = (Arc::clone(&connections), Arc::clone(&changed));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (record, notify) = (Arc::clone(&record), Arc::clone(&notify));
                tokio::spawn(async move {
                    let at = {
                        let mut all = record.lock().expect("lock");
                        all.push(RawConnection::default());
                        all.len() - 1
                    };
                    notify.notify_waiters();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        {
                            let mut all = record.lock().expect("lock");
                            all[at].bytes.extend_from_slice(&chunk[..n]);
                            all[at].closed = n == 0;
                        }
                        notify.notify_waiters();
                        if n == 0 {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            connections,
            changed,
        }
    }

    /// Each connection's bytes so far, and whether it was closed.
    pub fn connections(&self) -> Vec<RawConnection> {
        self.connections.lock().expect("lock").clone()
    }

    /// Waits (bounded by [`TEST_BOUND`]) until `done` holds of the connections.
    pub async fn wait_until(&self, done: impl Fn(&[RawConnection]) -> bool) {
        tokio::time::timeout(TEST_BOUND, async {
            loop {
                let notified = self.changed.notified();
                if done(&self.connections.lock().expect("lock")) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("the raw upstream saw it in time");
    }
}
