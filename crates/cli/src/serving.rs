//! Running a server until it is stopped (`serve`, `edge`): listeners bound or taken over from
//! the process being upgraded, TLS whose certificate is read again when its files change, the
//! access log and traces, SIGHUP, and the graceful drain on SIGTERM/SIGINT or after a
//! successor took the listeners over.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tinycdn_server::handover;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cli::ServerArgs;
use crate::output::Usage;

/// How a server runs: what `ServerArgs` says for `serve`, what the configuration says for
/// `edge`.
#[derive(Debug, Clone)]
pub(crate) struct Serving {
    /// The public listener's address.
    pub listen: String,
    /// The operators' listener, when apart (plain HTTP).
    pub admin_listen: Option<String>,
    /// Limits of every connection.
    pub limits: tinycdn_server::Limits,
    /// SIGTERM: how long readiness is 503 while listeners still accept.
    pub drain_delay: Duration,
    /// Then how long requests in flight have to finish.
    pub drain_timeout: Duration,
    /// Certificate chain and key (HTTPS).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The point of presence.
    pub pop: String,
    /// Access log file (`-`: stdout), its format and buffer.
    pub access_log: Option<(PathBuf, String, usize)>,
    /// OTLP collector and sampled fraction.
    pub otlp: Option<(String, f64)>,
    /// Bind with `SO_REUSEPORT`.
    pub reuse_port: bool,
    /// Where a successor takes the listeners over.
    pub upgrade_socket: Option<PathBuf>,
    /// Take the listeners over from the process at `upgrade_socket` instead of binding.
    pub take_over: bool,
}

impl Serving {
    /// From the flags every server has.
    pub(crate) fn from_args(listen: &str, s: &ServerArgs) -> Self {
        Self {
            listen: listen.to_owned(),
            admin_listen: None,
            limits: tinycdn_server::Limits {
                max_connections: s.max_connections,
                header_timeout: Duration::from_secs(s.header_timeout),
                idle_timeout: Duration::from_secs(s.idle_timeout),
                send_timeout: Duration::from_secs(s.send_timeout),
                max_connections_per_ip: s.max_connections_per_ip,
                ..tinycdn_server::Limits::default()
            },
            drain_delay: Duration::from_secs(s.drain_delay),
            drain_timeout: Duration::from_secs(s.drain_timeout),
            tls: s.tls_cert.clone().zip(s.tls_key.clone()),
            pop: s.pop.clone(),
            access_log: s
                .access_log
                .clone()
                .map(|p| (p, s.access_log_format.clone(), s.access_log_buffer)),
            otlp: s.otlp_endpoint.clone().map(|e| (e, s.trace_sample)),
            reuse_port: false,
            upgrade_socket: None,
            take_over: false,
        }
    }
}

/// What SIGHUP does besides reopening the access log and reading the certificate again.
pub(crate) type Reload<H> = Box<dyn Fn(&Arc<H>) + Send + Sync>;

/// Starts a runtime, binds, prints the URL on stdout and serves what `make` builds (inside the
/// runtime) until the process is stopped.
pub(crate) fn run_server<H, F>(serving: &Serving, what: &str, make: F) -> Result<()>
where
    H: tinycdn_server::Handler,
    F: FnOnce() -> Result<Arc<H>>,
{
    run_server_with(serving, what, make, None::<fn(&Arc<H>) -> Arc<H>>, None)
}

/// [`run_server`], with the operators' routes on `serving.admin_listen` (printed on stdout's
/// second line) served by what `side` makes of the handler (same limits, no TLS), and `reload`
/// run on SIGHUP.
pub(crate) fn run_server_with<H, A, F, S>(
    serving: &Serving,
    what: &str,
    make: F,
    side: Option<S>,
    reload: Option<Reload<H>>,
) -> Result<()>
where
    H: tinycdn_server::Handler,
    A: tinycdn_server::Handler,
    F: FnOnce() -> Result<Arc<H>>,
    S: FnOnce(&Arc<H>) -> Arc<A>,
{
    let tls = match &serving.tls {
        Some((c, k)) => Some(
            tinycdn_server::tls::reloading(c, k)
                .map_err(|e| anyhow::Error::new(Usage(e.to_string())))?,
        ),
        None => None,
    };
    crate::context::runtime()?.block_on(async {
        let log = start_access_log(serving)?;
        let _tracing = match &serving.otlp {
            Some((endpoint, sample)) => Some(tinycdn_telemetry::trace::init(
                &tinycdn_telemetry::trace::TraceConfig {
                    endpoint: endpoint.clone(),
                    sample: *sample,
                    service: "tinycdn".into(),
                    pop: serving.pop.clone(),
                },
            )?),
            None => None,
        };
        let handler = make()?;
        let (public, admin, successor_of) = listeners(serving).await?;
        let addr = public.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let stdout = std::io::stdout();
        writeln!(stdout.lock(), "{scheme}://{addr}")?;
        // Copies of the listening sockets, for a successor.
        let mut sockets: Vec<(&'static str, OwnedFd)> =
            vec![("public", public.as_fd().try_clone_to_owned()?)];
        let drain = tinycdn_server::Drain::new();
        if let (Some(admin), Some(side)) = (admin, side) {
            let admin_addr = admin.local_addr()?;
            writeln!(stdout.lock(), "http://{admin_addr}")?;
            eprintln!("operators' routes on http://{admin_addr}");
            sockets.push(("admin", admin.as_fd().try_clone_to_owned()?));
            tokio::spawn(tinycdn_server::serve_until(
                admin,
                side(&handler),
                serving.limits,
                None,
                drain.clone(),
            ));
        }
        stdout.lock().flush()?;
        eprintln!("{what} on {scheme}://{addr}");
        let upgraded = Arc::new(Notify::new());
        let stop = tokio::spawn(drain_on_signal(
            drain.clone(),
            handler.clone(),
            serving.drain_delay,
            upgraded.clone(),
        ));
        let hup = tokio::spawn(on_hangup(
            handler.clone(),
            log,
            tls.as_ref().map(|t| t.1.clone()),
            reload,
        ));
        if let Some((_, cert)) = &tls {
            tokio::spawn(watch_certificate(cert.clone()));
        }
        let acceptor = tls.map(|t| t.0);
        let served = tokio::spawn(tinycdn_server::serve_until(
            public,
            handler.clone(),
            serving.limits,
            acceptor,
            drain.clone(),
        ));
        if let Some(stream) = successor_of {
            // Serving: the old process may stop accepting now.
            if let Err(e) = handover::ready(stream) {
                eprintln!("upgrade: the previous process went away first ({e})");
            } else {
                eprintln!("upgrade: took the listeners over; the previous process drains");
            }
        }
        if let Some(path) = &serving.upgrade_socket {
            offer_to_successors(path.clone(), sockets, upgraded)?;
        }
        served.await??;
        // Listeners closed: the requests in flight finish, within the drain timeout.
        let timeout = serving.drain_timeout;
        if tokio::time::timeout(timeout, drain.idle()).await.is_err() {
            eprintln!(
                "drain: {} connection(s) still open after {timeout:?} (--drain-timeout): exiting",
                drain.connections()
            );
        }
        handler.drained();
        if let Some(log) = tinycdn_telemetry::access::AccessLog::global() {
            log.flush(Duration::from_secs(5));
        }
        stop.abort();
        hup.abort();
        eprintln!("drained: exiting");
        anyhow::Ok(())
    })
}

fn start_access_log(
    serving: &Serving,
) -> Result<Option<Arc<tinycdn_telemetry::access::AccessLog>>> {
    let Some((path, format, buffer)) = &serving.access_log else {
        return Ok(None);
    };
    use tinycdn_telemetry::access::{AccessLog, Format, Target};
    let target = if path.as_os_str() == "-" {
        Target::Stdout
    } else {
        Target::File(path.clone())
    };
    let format = if format == "combined" {
        Format::Combined
    } else {
        Format::Json
    };
    let log = AccessLog::start(target, format, *buffer, &serving.pop)
        .with_context(|| format!("cannot open the access log {}", path.display()))?;
    log.install();
    Ok(Some(log))
}

/// The public and admin listeners: taken over from the running process (with the stream to
/// tell it when this one serves), or bound.
async fn listeners(
    serving: &Serving,
) -> Result<(
    TcpListener,
    Option<TcpListener>,
    Option<std::os::unix::net::UnixStream>,
)> {
    if serving.take_over {
        let path = serving
            .upgrade_socket
            .as_deref()
            .context("--take-over needs the upgrade socket (upgrade_socket, --upgrade-socket)")?;
        let (named, stream) = match handover::take(path) {
            Ok(taken) => taken,
            // Nobody to take over from (the first start of a unit that always says
            // --take-over): bind as usual.
            Err(handover::HandoverError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                eprintln!(
                    "upgrade: no edge serves at {}; binding the listeners",
                    path.display()
                );
                let public = bind(&serving.listen, serving.reuse_port, "listen").await?;
                let admin = match &serving.admin_listen {
                    Some(addr) => Some(bind(addr, serving.reuse_port, "admin listener").await?),
                    None => None,
                };
                return Ok((public, admin, None));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("taking the listeners over at {}", path.display())))
            }
        };
        let mut public = None;
        let mut admin = None;
        for n in named {
            let std = std::net::TcpListener::from(n.fd);
            std.set_nonblocking(true)?;
            let l = TcpListener::from_std(std)?;
            match n.name.as_str() {
                "public" => public = Some(l),
                "admin" => admin = Some(l),
                _ => {}
            }
        }
        let public = public.context("the running process handed over no public listener")?;
        let admin = match (admin, &serving.admin_listen) {
            (Some(a), _) => Some(a),
            (None, Some(addr)) => Some(bind(addr, serving.reuse_port, "admin listener").await?),
            (None, None) => None,
        };
        return Ok((public, admin, Some(stream)));
    }
    let public = bind(&serving.listen, serving.reuse_port, "listen").await?;
    let admin = match &serving.admin_listen {
        Some(addr) => Some(bind(addr, serving.reuse_port, "admin listener").await?),
        None => None,
    };
    Ok((public, admin, None))
}

/// Binds `addr`, with `SO_REUSEPORT` when asked (a replacement can then bind beside it).
async fn bind(addr: &str, reuse_port: bool, what: &str) -> Result<TcpListener> {
    let fail = |e: std::io::Error| {
        anyhow::Error::new(Usage(format!("cannot listen on {addr} ({what}): {e}")))
    };
    if !reuse_port {
        return TcpListener::bind(addr).await.map_err(fail);
    }
    let sa: std::net::SocketAddr = tokio::net::lookup_host(addr)
        .await
        .map_err(fail)?
        .next()
        .ok_or_else(|| fail(std::io::ErrorKind::AddrNotAvailable.into()))?;
    let socket = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.set_reuseport(true).map_err(fail)?;
    socket.bind(sa).map_err(fail)?;
    socket.listen(1024).map_err(fail)
}

/// Waits for a successor on the hand-over socket at `path`: hands it the listening sockets and,
/// once it serves, notifies `upgraded` (this process then drains).
fn offer_to_successors(
    path: PathBuf,
    sockets: Vec<(&'static str, OwnedFd)>,
    upgraded: Arc<Notify>,
) -> Result<()> {
    let listener = handover::listen(&path).map_err(|e| anyhow::Error::new(Usage(e.to_string())))?;
    eprintln!(
        "upgrade: a successor may take the listeners over at {}",
        path.display()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut stream) = conn else { continue };
            let fds: Vec<_> = sockets.iter().map(|(n, fd)| (*n, fd.as_fd())).collect();
            match handover::offer(&mut stream, &fds, Duration::from_secs(60)) {
                Ok(true) => {
                    upgraded.notify_one();
                    return;
                }
                Ok(false) => {}
                Err(e) => eprintln!("upgrade: the successor did not take over ({e}); serving on"),
            }
        }
    });
    Ok(())
}

/// SIGHUP: the access log is reopened (after logrotate moved it), the certificate read again,
/// and `reload` run.
async fn on_hangup<H>(
    handler: Arc<H>,
    log: Option<Arc<tinycdn_telemetry::access::AccessLog>>,
    cert: Option<Arc<tinycdn_server::tls::Certificate>>,
    reload: Option<Reload<H>>,
) -> std::io::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    while hup.recv().await.is_some() {
        if let Some(log) = &log {
            log.reopen();
        }
        if let Some(c) = &cert {
            match c.reload(true) {
                Ok(_) => eprintln!("reload: certificate {} read again", c.files().0.display()),
                Err(e) => eprintln!("reload: certificate kept: {e}"),
            }
        }
        if let Some(r) = &reload {
            r(&handler);
        }
    }
    Ok(())
}

/// Reads the certificate again when its files change (cert-manager renewals), every 10 s.
async fn watch_certificate(cert: Arc<tinycdn_server::tls::Certificate>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        match cert.reload(false) {
            Ok(true) => eprintln!(
                "tls: {} changed: the new certificate is in use",
                cert.files().0.display()
            ),
            Ok(false) => {}
            Err(e) => eprintln!(
                "tls: {} changed but cannot be used, the previous one stays: {e}",
                cert.files().0.display()
            ),
        }
    }
}

/// On the first SIGTERM or SIGINT: readiness turns 503 at once, listeners go on accepting for
/// `delay` (load balancers and Kubernetes endpoints notice), then close, and connections finish
/// what they have in flight (HTTP/1 with `Connection: close`, HTTP/2 with a GOAWAY). After a
/// successor took the listeners over (`upgraded`), the same without the delay: it accepts on
/// the same sockets already. A second signal exits at once, with status 1.
pub(crate) async fn drain_on_signal<H: tinycdn_server::Handler>(
    drain: tinycdn_server::Drain,
    handler: Arc<H>,
    delay: Duration,
    upgraded: Arc<Notify>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let delay = tokio::select! {
        _ = term.recv() => delay,
        _ = int.recv() => delay,
        () = upgraded.notified() => Duration::ZERO,
    };
    if delay.is_zero() {
        eprintln!("drain: a successor serves on the listeners; this process stops accepting");
    } else {
        eprintln!("drain: readiness is 503; listeners close in {delay:?} (--drain-delay)");
    }
    handler.begin_drain();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("a second signal: exiting at once");
        std::process::exit(1);
    });
    tokio::time::sleep(delay).await;
    drain.close_connections();
    Ok(())
}
