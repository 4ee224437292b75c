//! The HTTP server: hyper's HTTP/1.1 with the limits docs/operations.md lists, and a stop that
//! lets the requests in flight finish.
//!
//! - A request's line and headers must arrive within [`HEADER_TIMEOUT`]; a keep-alive connection
//!   idle for as long is closed too. Headers larger than hyper's buffer (about 400 KB) are
//!   answered 431, a request line longer than 64 KB 414.
//! - Bodies are limited and timed by the Graph layer (`graph::MAX_BODY_BYTES`,
//!   `graph::BODY_TIMEOUT`).
//! - Responses go out without Nagle's delay (`TCP_NODELAY`).
//! - Each request carries its connection's peer address (`axum::extract::ConnectInfo`), which
//!   the console's sign-in throttle counts failures by.

use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
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
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
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
            .serve_connection(TokioIo::new(stream), with_peer(app.clone(), peer));
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

/// The app as hyper serves it, each request marked with the connection's peer address.
fn with_peer(
    app: axum::Router,
    peer: std::net::SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let mut app = app.clone();
        async move {
            type Incoming = hyper::Request<hyper::body::Incoming>;
            std::future::poll_fn(|cx| <axum::Router as tower_service::Service<Incoming>>::poll_ready(&mut app, cx))
                .await?;
            <axum::Router as tower_service::Service<Incoming>>::call(&mut app, req).await
        }
    })
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
