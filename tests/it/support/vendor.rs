//! A fake vendor on 127.0.0.1 port 0 (LexisNexis or Socure alike): it answers each request as the test's [`Reply`] says and records every request it reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{Message, TEST_BOUND, read_message};

/// What a fake vendor does with one request.
#[derive(Clone)]
pub enum Reply {
    /// These bytes, at once.
    Now(Vec<u8>),
    /// These bytes, after a delay (the vendor's own slowness, not a sync point).
    After(Duration, Vec<u8>),
    /// Never answer; keep the connection open.
    Hang,
    /// Close the connection with a TCP reset, without answering.
    Reset,
    /// Send these bytes (a head and part of its body), then close: the
    /// answer is cut short. A plain close, so the bytes arrive before it.
    CutMidBody(Vec<u8>),
}

type Responder = dyn Fn(&Message) -> Reply + Send + Sync;

/// A fake vendor on 127.0.0.1, port 0, recording every request it reads.
pub struct FakeVendor {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Message>>>,
    answered: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl FakeVendor {
    pub async fn start(reply: impl Fn(&Message) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake vendor");
        let addr = listener.local_addr().expect("fake vendor address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(Notify::new());
        let reply: Arc<Responder> = Arc::new(reply);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        let log = Recorder {
            received: Arc::clone(&received),
            answered: Arc::clone(&answered),
            arrived: Arc::clone(&arrived),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_fake(stream, Arc::clone(&reply), log.clone()));
            }
        });
        Self {
            addr,
            accepted,
            received,
            answered,
            arrived,
        }
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits (bounded by [`TEST_BOUND`]) until `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        tokio::time::timeout(TEST_BOUND, async {
            loop {
                let notified = self.arrived.notified();
                if self.received.lock().expect("lock").len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("requests arrived in time");
    }

    /// Always answers `bytes`.
    pub async fn always(bytes: Vec<u8>) -> Self {
        Self::start(move |_| Reply::Now(bytes.clone())).await
    }

    pub fn requests(&self) -> Vec<Message> {
        self.received.lock().expect("lock").clone()
    }

    /// How many answers it has finished sending.
    // Only tests/timing asks: whether a client answer waited for Socure's.
    #[allow(dead_code)]
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// Where a fake vendor's connections record what they see.
#[derive(Clone)]
struct Recorder {
    received: Arc<Mutex<Vec<Message>>>,
    answered: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

async fn serve_fake(mut stream: TcpStream, reply: Arc<Responder>, log: Recorder) {
    let mut buf = Vec::new();
    while let Ok(Some(message)) = read_message(&mut stream, &mut buf, false).await {
        let action = reply(&message);
        log.received.lock().expect("lock").push(message);
        log.arrived.notify_waiters();
        match action {
            Reply::Now(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::After(delay, bytes) => {
                tokio::time::sleep(delay).await;
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Reply::CutMidBody(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
        }
        log.answered.fetch_add(1, Ordering::SeqCst);
    }
}
