//! The HTTP server: hyper's HTTP/1.1 with the limits docs/operations.md lists, and a stop that
//! lets the requests in flight finish.
//!
//! - A request's line and headers must arrive within [`HEADER_TIMEOUT`]; a keep-alive connection
//!   idle for as long is closed too. Headers larger than hyper's buffer (about 400 KB) are
//!   answered 431, a request line longer than 64 KB 414.
//! - Bodies are limited and timed by the Graph layer (`graph::MAX_BODY_BYTES`,
//!   `graph::BODY_TIMEOUT`).
//! - Responses go out without Nagle's delay (`TCP_NODELAY`).

use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client may take to send a request's line and headers, and how long a keep-alive
/// connection may stay idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping server waits for the requests in flight, by default.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` completes, then stops accepting and waits up to
/// `deadline` for the requests in flight (idle connections are closed at once).
pub async fn serve(listener: TcpListener, app: axum::Router, stop: impl Future<Output = ()>, deadline: Duration) {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(deadline, graceful.shutdown()).await.is_err() {
        tracing::warn!(?deadline, "requests still in flight at the shutdown deadline were cut off");
    }
}

/// A failed accept: a connection that went away before it was accepted is nothing; anything
/// else (out of file descriptors) is logged and waited out, as a busy server should.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
