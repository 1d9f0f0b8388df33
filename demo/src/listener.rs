//! One TLS listener: accept, handshake, serve HTTP/1.1 or h2 (ALPN) with hyper.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::router;
use crate::state::{Role, Shared};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until the task is dropped.
pub async fn run(listener: TcpListener, acceptor: TlsAcceptor, role: Role, shared: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                eprintln!("lockstep-demo: {} accept failed: {e}", role.name());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    if !shared.setup.quiet {
                        eprintln!("{:<5} TLS handshake with {peer} failed: {e}", role.name());
                    }
                    return;
                }
                Err(_) => return,
            };
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(router::handle(shared, role, req).await) }
            });
            // Errors here are peers going away mid-connection: nothing to do.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
