// The HTTP/1.1 accept loop. Hand-rolled around hyper instead of `axum::serve` for one reason: the drop-connection
// fault must close a socket without answering, so each request carries a handle that can kill its connection.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tower_service::Service;

/// Closes the connection a request arrived on, without a response. Found in every request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKiller(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl ConnectionKiller {
    pub(crate) fn kill(&self) {
        let sender = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

/// Serves `router` on `listener` until `shutdown` changes (or its sender is dropped), then closes every
/// connection.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone(), shutdown.clone()));
                }
                Err(error) => {
                    // Typically out of file descriptors: back off briefly instead of spinning.
                    tracing::debug!(%error, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let (kill_sender, killed) = oneshot::channel();
    let killer = ConnectionKiller(Arc::new(Mutex::new(Some(kill_sender))));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(killer.clone());
        let mut router = router.clone();
        CatchPanic(Box::pin(async move { router.call(request).await }))
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    // Whichever comes first; dropping the connection future closes the socket mid-exchange.
    tokio::select! {
        _ = connection => {}
        Ok(()) = killed => {}
        _ = shutdown.changed() => {}
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Turns a panic while handling a request into a 500, so an emulator bug reads as an error response rather than
/// as a dropped connection (which tests might mistake for the drop-connection fault).
struct CatchPanic(ResponseFuture);

impl Future for CatchPanic {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                tracing::error!("the emulator panicked while handling a request");
                Poll::Ready(
                    Ok((StatusCode::INTERNAL_SERVER_ERROR, "insights emulator: internal error").into_response()),
                )
            }
        }
    }
}
