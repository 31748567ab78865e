//! The admin listener, apart from the data port: `GET /healthz` (the process
//! is alive), `GET /readyz` (ready for traffic; 503 only while draining: the
//! shadow side never makes the pod unready), `GET /metrics` (Prometheus text)
//! and `GET /config` (the effective configuration in force, as JSON).
//!
//! It runs until the proxy has shut down, so probes see the drain.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::ingress::serve;
use crate::ops::live::InForce;
use crate::ops::metrics::Metrics;
use crate::ops::readiness::Readiness;

/// A probe that has not sent its request head by then is dropped.
const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Admin connections served at once; more wait in the kernel's backlog.
/// Part of the descriptors kept in reserve (`capacity`): a
/// flood on the admin port cannot take the data path's, nor the data
/// path's flood the probes'.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves the admin endpoints on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    in_force: Arc<InForce>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&connections).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (metrics, readiness) = (metrics.clone(), Arc::clone(&readiness));
        let in_force = Arc::clone(&in_force);
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request: Request<Incoming>| {
                let answer = answer(&request, &metrics, &readiness, &in_force);
                async move { Ok::<_, Infallible>(answer) }
            });
            let _ = serve::http1(None, ADMIN_HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(
    request: &Request<Incoming>,
    metrics: &Metrics,
    readiness: &Readiness,
    in_force: &InForce,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match readiness.check() {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why.into()),
        },
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/config" => {
            let mut response = text(StatusCode::OK, in_force.current().as_str().to_owned());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
