//! `lockstep-demo`: the HTTPS dev/test server of Lockstep — demo micro-apps, a demo auth
//! server (custom JSON login and OAuth 2.0 with PKCE) and a demo API, on three origins.
//! The interface is docs/DEMO-SERVER.md.
//!
//! ```text
//!  app port   ─┐
//!  api port   ─┼─ listener (TLS, h1/h2) ─▶ router ─▶ routes_app / routes_api / routes_other
//!  other port ─┘                              └────▶ test_hooks (with --test-hooks)
//!                         all share one `Shared` (sessions, codes, counters, settings)
//! ```

mod args;
mod cors;
mod listener;
mod lockstep_config;
mod oauth;
mod random;
mod reply;
mod request;
mod router;
mod routes_api;
mod routes_app;
mod routes_other;
mod sessions;
mod state;
mod static_files;
mod test_hooks;
mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::args::{Args, Parsed};
use crate::state::{Ports, Role, Setup, Shared};

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            print!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lockstep-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lockstep-demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lockstep-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let acceptor = tls::acceptor(&args.cert, &args.key).map_err(|e| e.to_string())?;
    let bind = |port: u16| async move {
        let addr = SocketAddr::new(args.host, port);
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        Ok::<_, String>((listener, port))
    };
    let (app, app_port) = bind(args.app_port).await?;
    let (api, api_port) = bind(args.api_port).await?;
    let (other, other_port) = bind(args.other_port).await?;
    let ports = Ports { app: app_port, api: api_port, other: other_port };

    if !args.dist.join("lockstep-sw.js").is_file() {
        eprintln!(
            "lockstep-demo: warning: {} has no lockstep-sw.js yet (build Lockstep first: scripts/build.sh)",
            args.dist.display()
        );
    }
    let shared = Arc::new(Shared::new(Setup {
        ports,
        dist: args.dist.clone(),
        static_dir: args.static_dir.clone(),
        test_hooks: args.test_hooks,
        quiet: args.quiet,
    }));
    let tasks = [(app, Role::App), (api, Role::Api), (other, Role::Other)]
        .map(|(listener, role)| tokio::spawn(listener::run(listener, acceptor.clone(), role, Arc::clone(&shared))));

    let host = if args.host.is_loopback() { "localhost".to_string() } else { args.host.to_string() };
    eprintln!(
        "lockstep-demo: app https://{host}:{app_port}/  api https://{host}:{api_port}/v1/  other https://{host}:{other_port}/{}",
        if args.test_hooks { "  (test hooks on)" } else { "" }
    );
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "LOCKSTEP_DEMO_READY {{\"app\":{app_port},\"api\":{api_port},\"other\":{other_port}}}");
    let _ = stdout.flush();

    shutdown_signal().await;
    for task in &tasks {
        task.abort();
    }
    eprintln!("lockstep-demo: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
