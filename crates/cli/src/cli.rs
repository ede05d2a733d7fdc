//! The command-line interface: what the user can type, validated by clap.
//!
//! A field's doc comment is its `--help` text; fields without one (flattened argument groups,
//! subcommands) are described by their type.
#![allow(missing_docs)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Content-addressed, signed media volumes for the edge.
#[derive(Debug, Parser)]
#[command(name = "tinycdn", version, about, long_about = None)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Never draw progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the store is.
#[derive(Debug, Args)]
pub struct StoreArg {
    /// The store: a directory, or an object store by URL (`s3://bucket/prefix`, `gs://…`,
    /// `az://…`; credentials and endpoint from the environment, as the service's own tools read
    /// them).
    #[arg(
        long,
        env = "TINYCDN_STORE",
        hide_env_values = true,
        value_name = "DIR|URL"
    )]
    pub store: tinycdn_objstore::Location,
}

/// Limits and TLS of a server (`serve`, `edge`).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Connections served at once; more are closed at accept.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client has to send a request head (the first one counted from the connection's
    /// start, whatever protocol it speaks; TLS handshakes included).
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a connection (keep-alive, HTTP/2, an upgraded tunnel) may stay open with nothing
    /// in progress.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Seconds a response may wait on a client that takes none of it; then the connection is cut.
    #[arg(long, default_value_t = 60)]
    pub send_timeout: u64,
    /// Connections one client address may hold at once (0: no cap).
    #[arg(long, default_value_t = 1_000)]
    pub max_connections_per_ip: usize,
    /// On SIGTERM/SIGINT: seconds `/readyz` answers 503 while new connections are still
    /// accepted (load balancers notice), before the listeners close.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub drain_delay: u64,
    /// Then: seconds requests in flight have to finish before the process exits anyway.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub drain_timeout: u64,
    /// TLS certificate chain (PEM); with `--tls-key`, serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The point of presence this node serves (`fra1`, `iad2`): the `pop` label of its metrics
    /// and access log lines.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub pop: String,
    /// Write an access log line per response to this file (`-`: stdout); reopened on SIGHUP.
    #[arg(long, value_name = "PATH|-")]
    pub access_log: Option<PathBuf>,
    /// `json` (the schema in docs/operations/observability.md) or nginx's `combined`.
    #[arg(long, value_name = "FORMAT", default_value = "json", value_parser = ["json", "combined"])]
    pub access_log_format: String,
    /// Lines that may wait for the writer; more are dropped (counted), never delaying requests.
    #[arg(long, value_name = "LINES", default_value_t = 65_536)]
    pub access_log_buffer: usize,
    /// Export traces (OTLP over HTTP, protobuf) to this collector (`http://HOST:4318`).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces exported (a `traceparent`'s sampled flag is followed).
    #[arg(long, value_name = "RATIO", default_value_t = 0.01)]
    pub trace_sample: f64,
}

/// Whose signatures to accept.
#[derive(Debug, Args)]
pub struct TrustArg {
    /// A public key file (`*.pub`) whose signatures are trusted; repeat for several. With none,
    /// signers are shown but not required.
    #[arg(long, value_name = "FILE")]
    pub trust: Vec<PathBuf>,
}

/// `tinycdn image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The source image (JPEG, PNG or WebP).
    pub path: PathBuf,
    /// Box width in CSS pixels (1-8192).
    #[arg(long)]
    pub w: Option<u32>,
    /// Box height in CSS pixels (1-8192).
    #[arg(long)]
    pub h: Option<u32>,
    /// `inside` (default, never crops), `cover` (crop to fill), `fill` (stretch).
    #[arg(long)]
    pub fit: Option<String>,
    /// Gravity for `cover`: c, n, s, e, w, ne, nw, se, sw.
    #[arg(long)]
    pub g: Option<String>,
    /// `jpeg`, `webp`, `avif` or `png` (default: the source's format).
    #[arg(long)]
    pub fmt: Option<String>,
    /// Quality 1-100 (default per format: JPEG and WebP 80, AVIF 60).
    #[arg(long)]
    pub q: Option<u8>,
    /// Device pixel ratio, 1-4 (multiplies the box).
    #[arg(long)]
    pub dpr: Option<String>,
    /// Allow the output to be larger than the source.
    #[arg(long)]
    pub upscale: bool,
    /// Where to write the variant (`-`: stdout).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty store: a local directory, or a prefix in object storage.
    Init(InitArgs),
    /// Manage signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Trust roots: keys, roles, thresholds and expiry for `--trust trust.json`; rotation.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Add a signature to a version's manifest, its delta index and the tag that names it
    /// (co-signing when the trust root's targets threshold is above one; offline signing).
    Sign(SignArgs),
    /// Re-sign the store's snapshot of every current tag with a new expiry, and a timestamp
    /// naming it (run from cron or CI before the last one expires).
    Snapshot(SnapshotArgs),
    /// Re-sign only the timestamp naming the store's newest snapshot (the frequent job of the
    /// online timestamp key, e.g. hourly from cron).
    Timestamp(TimestampArgs),
    /// Binary deltas between two versions of a file (standalone, for CI pipelines).
    Delta {
        #[command(subcommand)]
        command: DeltaCommand,
    },
    /// Publish a directory as a new signed version of a volume.
    Publish(PublishArgs),
    /// Static sites from volumes: check a site's rules, generate its service worker, diff two
    /// versions as a site.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// List volumes, their versions and tags.
    Volumes(VolumesArgs),
    /// Show a version's manifest: files, sizes, hashes, parent and signer.
    Show(ShowArgs),
    /// Write one file of a version to stdout, verified.
    Cat(CatArgs),
    /// Materialise a version read-only and switch DEST (a symlink) to it atomically.
    Checkout(CheckoutArgs),
    /// Verify every object; report and quarantine damaged ones.
    Fsck(FsckArgs),
    /// The immutable vault: an append-only, verified copy of an origin, and restoring from it.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Drop versions beyond the newest N of each volume and every object nothing kept references.
    Gc(GcArgs),
    /// Pull a version from mirrors into the store, fetching only the chunks it lacks or deltas
    /// from files it has.
    Pull(PullArgs),
    /// Keep a node's volumes current: follow their tags from mirrors (with pull's trust
    /// checks), check out atomically, keep N versions; serve /metrics, /healthz and /readyz.
    Agent(AgentArgs),
    /// Talk to a CSI node plugin (`tinycdn agent --csi-endpoint`) as a kubelet would: probe
    /// it, publish and unpublish volumes by hand.
    Csi {
        #[command(subcommand)]
        command: CsiCommand,
    },
    /// Serve the store over HTTP as an origin (HTTP/1.1 and h2c on one port).
    Serve(ServeArgs),
    /// Run an edge cache: in front of tinycdn origins or parent edges (`--upstream`), in front of
    /// any HTTP application as an RFC 9111 shared cache (`--origin`), or both, with volumes
    /// mounted at the application's paths (`--mount`).
    Edge(Box<EdgeArgs>),
    /// Purge stored responses from an edge that fronts an application, by URL, URL prefix or
    /// surrogate key.
    Purge(PurgeArgs),
    /// Make an image variant offline, with the edge's code: resize, crop, re-encode (for CI
    /// pipelines; the same parameters as `?w=&h=&fit=&fmt=&q=` on an edge URL).
    Image(Box<ImageArgs>),
    /// Sign an image variant URL for an edge started with `--image-sign-keys` (HMAC-SHA256 over
    /// the path and query; prints the URL with `sig=` added).
    SignUrl(SignUrlArgs),
    /// The transparency log of everything that changed what nodes serve: show, verify, prove.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Read access logs: rank what matters, simulate caches at many sizes, and answer how big
    /// the cache must be, what to move into volumes and what it saves.
    Audit(AuditArgs),
    /// Replay a log's GET requests against one or more base URLs (the origin, then the edge)
    /// and compare time to first byte, total time (p50/p90/p99), hit ratio and bytes.
    Replay(ReplayArgs),
    /// The cost model as a report: hit ratio per PoP and tier (from edges' metrics), the delta
    /// economy and the storage duplication factor per volume and version; HTML with SVG charts
    /// (`-o`), or `--json`.
    Report(ReportArgs),
    /// Logical bytes, physical bytes, the duplication factor and the delta cost model.
    Stats(StatsArgs),
}

/// Vault commands.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Copy what the origin's transparency log names and the vault lacks: the log itself
    /// (which must extend the vault's copy), every published version, tags, snapshot, timestamp.
    /// Nothing in the vault is ever overwritten or deleted.
    Sync {
        /// The origin (or a mirror of it); repeat for several.
        #[arg(long = "from", value_name = "URL", required = true)]
        from: Vec<String>,
        /// The vault directory (created on first use).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The origin's log key (`NAME+ID+KEY` or a file).
        #[arg(long, value_name = "KEY|FILE")]
        log_key: String,
        /// Public key files or a trust root whose signatures are accepted. Required.
        #[arg(long, value_name = "FILE", required = true)]
        trust: Vec<PathBuf>,
        /// Range requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Seconds a mirror request may take.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Rebuild a lost origin from a vault into a new store, then check it (fsck and the log).
    Restore {
        /// The vault directory.
        #[arg(long = "from", value_name = "DIR")]
        from: PathBuf,
        /// The new store directory.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Public key files or a trust root to check the restored signatures with.
        #[arg(long, value_name = "FILE")]
        trust: Vec<PathBuf>,
    },
}

/// Where a log is read: the local store, or mirrors with the log's key.
#[derive(Debug, Args)]
pub struct LogSource {
    /// The store directory (the log it keeps); or give `--from`.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub store: Option<PathBuf>,
    /// A mirror serving the log (origin or edge); repeat for several. Needs `--log-key`.
    #[arg(long = "from", value_name = "URL", requires = "log_key")]
    pub from: Vec<String>,
    /// The log's verifier key (`NAME+ID+KEY`, from `tinycdn log key`), or a file holding it.
    #[arg(long, value_name = "KEY|FILE")]
    pub log_key: Option<String>,
    /// Seconds a mirror request may take.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Static site commands.
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Check a site directory's `_headers` and `_redirects` (Netlify / Cloudflare Pages
    /// format) as `publish --site` would.
    Check {
        /// The site's directory.
        dir: PathBuf,
        /// Let `_redirects` send clients to other hosts.
        #[arg(long)]
        allow_external_redirects: bool,
    },
    /// Write the cache-first service worker of a version: every file up to 2 MiB precached by
    /// its clean URL, BLAKE3 revision and SHA-384 integrity.
    Sw {
        /// `VOLUME@TAG` or `VOLUME@<version hash prefix>`.
        reference: String,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        trust: TrustArg,
        /// Write it here (default: stdout).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// The path the worker is served at (left out of its own precache).
        #[arg(long, value_name = "PATH", default_value = "/sw.js")]
        worker_path: String,
    },
    /// What changed between two versions of a site: files added, removed, changed, and the
    /// headers each is served with.
    Diff {
        /// The older `VOLUME@REF`.
        from: String,
        /// The newer `VOLUME@REF`.
        to: String,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        trust: TrustArg,
    },
}

/// Transparency log commands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Create the store's log key (named NAME) before the first entry; print its verifier key.
    Init {
        #[command(flatten)]
        store: StoreArg,
        /// The log's name: the first line of its checkpoints (e.g. `media.example.com/log`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the verifier key nodes and edges are given (`--log-key`).
    Key {
        #[command(flatten)]
        store: StoreArg,
    },
    /// List entries: index, time, kind and fields.
    Show {
        #[command(flatten)]
        source: LogSource,
        /// The first entry to list.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: u64,
    },
    /// Verify the whole log (every entry and tile against the signed root), and with
    /// `--against` that it extends an older checkpoint (a consistency proof).
    Verify {
        #[command(flatten)]
        source: LogSource,
        /// An older checkpoint of the same log (a file) that the current one must extend.
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
        /// Write the verified checkpoint here (to pass as `--against` next time).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Prove that a version was published in the log (an inclusion proof).
    Prove {
        /// `VOLUME@REF` (with `--store`), or a 64-hex version id.
        reference: String,
        #[command(flatten)]
        source: LogSource,
    },
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an Ed25519 key pair: FILE (private, 0600) and FILE.pub.
    Generate {
        /// Where to write the private key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Trust root commands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Create a trust root in which one key holds every role.
    Init {
        /// The publisher's secret key: it signs the root and, later, the content.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the root (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Days until the root expires (nodes refuse new fetches under an expired root).
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        expires_in_days: u32,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Make the next version of a root: new keys or thresholds, a new expiry. It must be signed by
    /// the current root's threshold and by its own (`--sign`, or later with `trust sign`).
    Rotate {
        /// The current root.
        #[arg(long, value_name = "FILE")]
        root: PathBuf,
        /// Where to write the new root.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Public keys of the new root role (repeatable; default: unchanged).
        #[arg(long = "root-key", value_name = "PUB")]
        root_keys: Vec<PathBuf>,
        /// Public keys of the new targets role, which signs content (repeatable; default:
        /// unchanged). A key left out is revoked.
        #[arg(long = "targets-key", value_name = "PUB")]
        targets_keys: Vec<PathBuf>,
        /// Signatures the root role needs (default: unchanged).
        #[arg(long, value_name = "N")]
        root_threshold: Option<u16>,
        /// Signatures the targets role needs (default: unchanged).
        #[arg(long, value_name = "N")]
        targets_threshold: Option<u16>,
        /// Public keys of the new snapshot role, which signs snapshots (repeatable; default:
        /// unchanged).
        #[arg(long = "snapshot-key", value_name = "PUB")]
        snapshot_keys: Vec<PathBuf>,
        /// Signatures the snapshot role needs (default: unchanged).
        #[arg(long, value_name = "N")]
        snapshot_threshold: Option<u16>,
        /// Public keys of the new timestamp role, which signs the short-lived timestamp (an
        /// online key; repeatable; default: unchanged).
        #[arg(long = "timestamp-key", value_name = "PUB")]
        timestamp_keys: Vec<PathBuf>,
        /// Signatures the timestamp role needs (default: unchanged).
        #[arg(long, value_name = "N")]
        timestamp_threshold: Option<u16>,
        /// Days until the new root expires.
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        expires_in_days: u32,
        /// Secret keys to sign the new root with now (repeatable).
        #[arg(long = "sign", value_name = "KEY")]
        sign: Vec<PathBuf>,
    },
    /// Add a signature to a root (offline signing: run where the key is).
    Sign {
        /// The root file, updated in place (atomically).
        file: PathBuf,
        /// The secret key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Check a root: self-signed, not expired, and (with `--previous`) a valid successor.
    Show {
        /// The root file.
        file: PathBuf,
        /// The root it should replace.
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
    },
    /// Put a root where nodes find it (`/r/VERSION` on the origin), so that nodes holding an
    /// older root follow the rotation by themselves. Publish every version, in order.
    Publish {
        /// The root file (signed by its own root threshold and its predecessor's).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArg,
    },
}

/// Which delta method(s) to try.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeltaMethod {
    /// bsdiff+lzma, plus zstd patch-from when a quick probe says it may win; the smaller is kept.
    Auto,
    /// zstd with the old file as reference prefix.
    Zstd,
    /// bsdiff-style suffix-array matching, payload a standard BSDIFF40 patch.
    Bsdiff,
    /// The bsdiff matcher with zero-run and LZMA2 encoding of its streams.
    BsdiffLzma,
}

/// Delta commands.
#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Make a delta that turns OLD into NEW.
    Create {
        /// The base file.
        old: PathBuf,
        /// The target file.
        new: PathBuf,
        /// Where to write the delta.
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
        /// Method(s) to try.
        #[arg(long, value_enum, default_value = "auto")]
        method: DeltaMethod,
    },
    /// Apply a delta to OLD, writing the verified result.
    Apply {
        /// The base file.
        old: PathBuf,
        /// The delta.
        delta: PathBuf,
        /// Where to write the result.
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `tinycdn edge`.
#[derive(Debug, Clone, Args)]
pub struct EdgeArgs {
    /// The edge's configuration file (`edge.toml`: listeners, cache, upstreams, any number of
    /// sites by host; see docs/operations/configuration.md). Flags given as well override it.
    /// SIGHUP reads it again.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration (file and flags), print it as it will be used (secrets
    /// redacted) and exit: 0 when it is valid, 2 when it is not.
    #[arg(long)]
    pub check: bool,
    /// Bind the listeners with `SO_REUSEPORT`, so that a replacement process can listen on the
    /// same address while this one drains.
    #[arg(long)]
    pub reuse_port: bool,
    /// A Unix socket where a new process takes this one's listening sockets over (`--take-over`):
    /// an upgrade that refuses no connection.
    #[arg(long, value_name = "PATH")]
    pub upgrade_socket: Option<PathBuf>,
    /// Start by taking the listening sockets over from the edge running with the same
    /// `--upgrade-socket`; it then drains and exits.
    #[arg(long)]
    pub take_over: bool,
    /// An upstream tinycdn mirror (`http://HOST:PORT`, origin or edge); repeat for several, best
    /// first.
    #[arg(
        long = "upstream",
        value_name = "URL",
        required_unless_present_any = ["origin", "config"],
        requires = "trust"
    )]
    pub upstreams: Vec<String>,
    /// A public key file or trust root whose signatures on manifests and tags are accepted;
    /// repeat for several. Required with `--upstream`: an edge serves nothing unsigned.
    #[arg(long, value_name = "FILE", requires = "upstreams")]
    pub trust: Vec<PathBuf>,
    /// The origin's transparency log key (`NAME+ID+KEY` or a file): the edge serves `/log/`,
    /// only checkpoints that extend the last one it accepted (else 503, a split view) and only
    /// tiles that hash up to a signed root.
    #[arg(long, value_name = "KEY|FILE", requires = "upstreams")]
    pub log_key: Option<String>,
    /// The application to front (`http://HOST:PORT`, `https://HOST:PORT`, or `h2c://HOST:PORT` for
    /// HTTP/2 with prior knowledge): requests that no mount claims go to it, cached as RFC 9111
    /// allows a shared cache. The edge's own routes move under `/.tinycdn/`.
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,
    /// A PEM file of certificate authorities that an `https://` origin's certificate may chain
    /// to, besides the system's.
    #[arg(long, value_name = "PEM", requires = "origin")]
    pub origin_ca: Option<PathBuf>,
    /// A PEM file of certificate authorities that `https://` upstreams' certificates may chain
    /// to, besides the system's.
    #[arg(long, value_name = "PEM")]
    pub upstream_ca: Option<PathBuf>,
    /// Serve a signed volume's files at a URL prefix: `PATH=VOLUME@REF` (a tag follows new
    /// versions); repeatable; needs `--upstream`.
    #[arg(long = "mount", value_name = "PATH=VOLUME@REF", requires = "upstreams")]
    pub mounts: Vec<String>,
    /// Seconds a verified tag is used before the edge asks its upstreams again: how long a
    /// moved tag (a new site version, a rollback) takes to show at this edge.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60,
        requires = "upstreams"
    )]
    pub tag_max_age: u32,
    /// Serve a signed volume as a website for requests whose `Host` is HOST: `HOST=VOLUME@REF`
    /// (index.html, clean URLs, 404.html, `_headers`, `_redirects`; a tag follows new versions;
    /// every version is also served at its preview host `<label>.HOST`); repeatable; needs
    /// `--upstream`.
    #[arg(long = "site", value_name = "HOST=VOLUME@REF", requires = "upstreams")]
    pub sites: Vec<String>,
    /// A path prefix of every site answered by the application instead (`/api=http://app:8080`),
    /// through the RFC 9111 cache; repeatable (one application: the same URL each time, and
    /// `--origin`'s when both are given).
    #[arg(long = "site-api", value_name = "PREFIX=URL", requires = "sites")]
    pub site_api: Vec<String>,
    /// Seconds a superseded site version's files stay served to pages that started on it.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        requires = "sites"
    )]
    pub site_grace: u64,
    /// Serve sites whose `_redirects` sends clients to other hosts (else such a version is
    /// refused with a 502 naming the line).
    #[arg(long, requires = "sites")]
    pub site_allow_external_redirects: bool,
    /// A file holding the bearer token of the purge API (`POST /.tinycdn/purge`); it must not be
    /// readable by other users. Without it, purging is off.
    #[arg(long, value_name = "FILE", requires = "origin")]
    pub purge_token_file: Option<PathBuf>,
    /// The disk cache directory (survives restarts).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Bytes per second the background scrub re-reads and re-hashes from the disk cache,
    /// dropping chunks that no longer match (`0` turns it off).
    #[arg(long, value_name = "BYTES", default_value = "8MiB")]
    pub scrub_rate: String,
    /// Bound of the disk cache (`20GiB`, `500MB`, bytes).
    #[arg(long, default_value = "10GiB")]
    pub cache_size: String,
    /// What the disk cache keeps when full: `s3-fifo` (chunks used again stay; one-hit chunks
    /// leave first), `sieve`, or `fifo` (oldest first). Chosen with `tinycdn audit` on real
    /// traces; see BENCHMARKS.md.
    #[arg(long, value_name = "POLICY", default_value = "s3-fifo",
          value_parser = ["s3-fifo", "sieve", "fifo"])]
    pub cache_policy: String,
    /// Memory for content: half for the chunk memory tier, half for responses being filled.
    #[arg(long, default_value = "512MiB")]
    pub memory: String,
    /// Largest application response stored; larger ones stream through uncached.
    #[arg(long, default_value = "256MiB")]
    pub max_object_size: String,
    /// Most application responses stored at once (the oldest go first).
    #[arg(long, default_value_t = 200_000)]
    pub max_entries: usize,
    /// A request field that identifies a user, besides `Authorization` and `Cookie` (repeat or
    /// comma-separate): the answer to a request carrying one is stored and shared only when the
    /// application says so explicitly (`public`, `max-age`, `s-maxage`, `Expires`,
    /// `CDN-Cache-Control`).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub credential_header: Vec<String>,
    /// Cookies that identify nobody (`_ga,_gid,_ga_*`; a trailing `*` names a prefix): stripped
    /// from requests before they are keyed and forwarded, so that they do not make every request
    /// personal. The application never sees them: name only cookies it does not read.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub ignore_cookie: Vec<String>,
    /// Previous hops (load balancers, TLS terminators) by address or CIDR
    /// (`10.0.0.0/8,192.0.2.7`): their `Forwarded`/`X-Forwarded-For` chains are extended and
    /// their `X-Forwarded-Proto` names the client's scheme. Everyone else's forwarding fields are
    /// removed and the edge sets them from the connection.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Serve the operators' routes (`/.tinycdn/metrics`, `status`, `purge`, `healthz`, the peer
    /// route) on this address instead, plain HTTP; they are then absent from `--listen` (its URL
    /// is printed on stdout's second line).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Without `--admin-listen`: who may read `metrics` and `status` on `--listen`, by address or
    /// CIDR (default: loopback and the private ranges 10/8, 172.16/12, 192.168/16, fc00::/7).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub admin_allow: Vec<String>,
    /// Address to listen on (`127.0.0.1:0` picks a free port; the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Seconds an upstream mirror request may take.
    #[arg(long, default_value_t = 10)]
    pub upstream_timeout: u64,
    /// Seconds the application has to send a response head.
    #[arg(long, default_value_t = 30)]
    pub origin_timeout: u64,
    /// Longest pause, in seconds, inside an application's response body before it is cut off.
    #[arg(long, default_value_t = 30)]
    pub origin_body_timeout: u64,
    #[command(flatten)]
    pub images: ImageEdgeArgs,
    #[command(flatten)]
    pub region: RegionArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A regional cluster: edges that share their chunks, each filled from upstream once per region.
#[derive(Debug, Clone, Args)]
pub struct RegionArgs {
    /// This edge's URL as the other members of its region know it (`http://10.0.0.7:8080`): how
    /// it finds itself among the members. Needed with `--peer`, `--peers-file` or `--peers-dns`.
    #[arg(long, value_name = "URL", requires = "upstreams")]
    pub advertise: Option<String>,
    /// A member of this edge's region, itself included: `http://HOST:PORT`, optionally
    /// `,weight=N` (a share of the chunks relative to the others); repeatable. Every member
    /// must be given the same list.
    #[arg(long = "peer", value_name = "URL[,weight=N]", requires = "advertise",
          conflicts_with_all = ["peers_file", "peers_dns"])]
    pub peers: Vec<String>,
    /// A file listing the region's members, one `--peer` value per line (`#` comments), read
    /// again every `--peers-refresh` seconds.
    #[arg(
        long,
        value_name = "FILE",
        requires = "advertise",
        conflicts_with = "peers_dns"
    )]
    pub peers_file: Option<PathBuf>,
    /// A DNS name whose A/AAAA records are the region's members, all on PORT (a Kubernetes
    /// headless Service: `edges.media.svc.cluster.local:8080`), resolved again every
    /// `--peers-refresh` seconds.
    #[arg(long, value_name = "NAME:PORT", requires = "advertise")]
    pub peers_dns: Option<String>,
    /// The DNS server `--peers-dns` asks (default: the system's, from /etc/resolv.conf).
    #[arg(long, value_name = "IP:PORT", requires = "peers_dns")]
    pub peers_dns_server: Option<std::net::SocketAddr>,
    /// Seconds between reads of `--peers-file` or `--peers-dns`.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub peers_refresh: u64,
    /// Seconds a peer may take to send a chunk before the next member (then the upstream) is
    /// asked.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub peer_timeout: u64,
}

/// Image variants at the edge (`?w=&h=&fit=&fmt=&q=&dpr=`).
#[derive(Debug, Clone, Args)]
pub struct ImageEdgeArgs {
    /// Make no image variants: image keys in queries are ignored for volume files and left to
    /// the application.
    #[arg(long)]
    pub no_images: bool,
    /// Make variants only for URLs signed with a key in this file (one per line, for
    /// rotation; see `tinycdn sign-url`). The size allowlist then applies only if named.
    #[arg(long, value_name = "FILE")]
    pub image_sign_keys: Option<PathBuf>,
    /// Also accept signatures over path and query alone, as `tinycdn sign-url` made them before
    /// it signed the host: only while the URLs are signed again (a legacy signature works on
    /// every host behind the edge).
    #[arg(long, requires = "image_sign_keys")]
    pub image_sign_legacy: bool,
    /// Widths and heights a variant may ask for (comma-separated; default next/image's
    /// 16,32,48,64,96,128,256,320,384,480,640,750,828,1080,1200,1920,2048,3840).
    #[arg(long, value_name = "LIST")]
    pub image_widths: Option<String>,
    /// Qualities a variant may ask for (default 25,50,60,75,80,90).
    #[arg(long, value_name = "LIST")]
    pub image_qualities: Option<String>,
    /// Make any variant anyone asks for (no signature, no allowlist): only on a trusted network.
    #[arg(long, conflicts_with_all = ["image_sign_keys", "image_widths", "image_qualities"])]
    pub image_allow_any: bool,
    /// Transforms at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub image_workers: Option<usize>,
    /// Transforms waiting for a worker at most; more are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub image_queue: usize,
    /// Seconds one transform may take, waiting included (then 503).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub image_timeout: u64,
    /// Largest source in pixels, every frame of an animation counted.
    #[arg(long, value_name = "PIXELS", default_value_t = 40_000_000)]
    pub image_max_pixels: u64,
    /// Pixel memory one transform may hold.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub image_memory: String,
    /// Keep no variant: every request transforms (for measuring transforms, as bench/images.sh
    /// does).
    #[arg(long)]
    pub image_no_store: bool,
}

/// The arguments of `tinycdn init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub store: StoreArg,
}

/// The arguments of `tinycdn sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// `VOLUME@TAG` or `VOLUME@<version hash prefix>`.
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// The secret key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

/// The arguments of `tinycdn snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// The secret key (of the trust root's snapshot role).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Days the snapshot stays valid.
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub lifetime_days: u32,
    /// The timestamp role's secret key (default: --key).
    #[arg(long, value_name = "FILE")]
    pub timestamp_key: Option<PathBuf>,
    /// Hours the timestamp stays valid.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub timestamp_lifetime_hours: u32,
}

/// The arguments of `tinycdn timestamp`.
#[derive(Debug, Args)]
pub struct TimestampArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// The secret key (of the trust root's timestamp role).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Hours the timestamp stays valid.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub lifetime_hours: u32,
}

/// The arguments of `tinycdn publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The directory to publish.
    pub source: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// The volume name.
    #[arg(long)]
    pub volume: String,
    /// Point this tag at the published version.
    #[arg(long)]
    pub tag: Option<String>,
    /// The publisher's secret key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Creation time to record, in Unix seconds (default: SOURCE_DATE_EPOCH, else now); the
    /// same tree, parent and time always give the same version id.
    #[arg(long, value_name = "SECONDS")]
    pub created: Option<i64>,
    /// Chunk sizes in bytes as MIN,AVG,MAX (default 65536,262144,1048576).
    #[arg(long, value_name = "MIN,AVG,MAX")]
    pub chunk_sizes: Option<String>,
    /// Make no binary deltas from the previous version.
    #[arg(long)]
    pub no_deltas: bool,
    /// CPU seconds publish may spend making deltas; files past the budget travel as chunks.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub delta_cpu_budget: f64,
    /// Files larger than this get no delta (memory is about 5x the file while one is made).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub delta_max_file: u64,
    /// Days the re-signed snapshot of every tag stays valid (nodes under a trust root refuse
    /// an expired one; refresh it with `tinycdn snapshot`).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub snapshot_lifetime_days: u32,
    /// Hours the re-signed timestamp stays valid (refresh it with `tinycdn timestamp`).
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub timestamp_lifetime_hours: u32,
    /// Make image variants at publish, as this TOML file lists (paths, widths, formats,
    /// quality), into `.tinycdn-variants/` of the volume: signed with it, synced with it,
    /// served by edges without transforming.
    #[arg(long, value_name = "FILE")]
    pub variants: Option<PathBuf>,
    /// The volume is a website: refuse the publish if its `_headers` or `_redirects` does
    /// not parse (the error names the line).
    #[arg(long)]
    pub site: bool,
    /// With `--site`: let `_redirects` send clients to other hosts.
    #[arg(long, requires = "site")]
    pub allow_external_redirects: bool,
    /// With `--site`: add a cache-first service worker at `/sw.js` precaching the site's
    /// files (as `tinycdn site sw` writes it); the pages register it themselves.
    #[arg(long, requires = "site")]
    pub pwa: bool,
}

/// The arguments of `tinycdn volumes`.
#[derive(Debug, Args)]
pub struct VolumesArgs {
    #[command(flatten)]
    pub store: StoreArg,
}

/// The arguments of `tinycdn show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// `VOLUME@TAG` or `VOLUME@<version hash prefix>`.
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub trust: TrustArg,
}

/// The arguments of `tinycdn cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// `VOLUME@TAG` or `VOLUME@<version hash prefix>`.
    pub reference: String,
    /// The path inside the volume.
    pub path: String,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub trust: TrustArg,
}

/// The arguments of `tinycdn checkout`.
#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// `VOLUME@TAG` or `VOLUME@<version hash prefix>`.
    pub reference: String,
    /// The symlink to create or switch.
    pub dest: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub trust: TrustArg,
}

/// The arguments of `tinycdn fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub trust: TrustArg,
    /// Fetch damaged and missing manifests and objects again from `--from` mirrors
    /// (verified, then swapped in atomically), then check again.
    #[arg(long, requires = "from")]
    pub repair: bool,
    /// A mirror to repair from (origin, edge or vault served); repeat for several.
    #[arg(long = "from", value_name = "URL", requires = "repair")]
    pub from: Vec<String>,
}

/// The arguments of `tinycdn gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Versions to keep per volume (tagged and checked-out versions are always kept).
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
}

/// The arguments of `tinycdn pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// `VOLUME@TAG` or `VOLUME@<64-hex version id>`.
    pub reference: String,
    /// A mirror (`http://HOST:PORT`, origin or edge); repeat for several.
    #[arg(long = "from", value_name = "URL", required = true)]
    pub from: Vec<String>,
    /// A public key file whose signatures are accepted; repeat for several. Required.
    #[arg(long, value_name = "FILE", required = true)]
    pub trust: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Check the version out here afterwards (atomic switch).
    #[arg(long, value_name = "DEST")]
    pub checkout: Option<PathBuf>,
    /// Keep this many versions per volume afterwards (gc).
    #[arg(long)]
    pub keep: Option<usize>,
    /// Range requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds a mirror request may take.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The origin's transparency log key (`NAME+ID+KEY` or a file): the newest checkpoint
    /// must extend the last one this store accepted (else exit 3, nothing installed).
    #[arg(long, value_name = "KEY|FILE")]
    pub log_key: Option<String>,
    /// Refuse a version the log does not prove was published (needs `--log-key`).
    #[arg(long, requires = "log_key")]
    pub require_log: bool,
}

/// The arguments of `tinycdn agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's configuration (`agent.toml`; see docs/operations/scale.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// One round, then exit: 0 when every volume is checked out and current, 1 otherwise
    /// (for an init container or a cron job).
    #[arg(long)]
    pub once: bool,
    /// Listen here instead of the file's `listen` (`127.0.0.1:0` picks a free port; the URL
    /// is printed on stdout).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Also serve the Kubernetes CSI node plugin (driver `volumes.tinycdn.dev`) on this Unix
    /// socket (`unix:///csi/csi.sock`), with the file's `[csi]` settings.
    #[arg(long, value_name = "ENDPOINT", conflicts_with = "once")]
    pub csi_endpoint: Option<String>,
}

/// `tinycdn csi` subcommands. Exit 0 on success; otherwise the gRPC status and message on
/// stderr and exit 1 (2 for a malformed command line).
#[derive(Debug, Subcommand)]
pub enum CsiCommand {
    /// The plugin's name, version, readiness, node id and capabilities.
    Probe(CsiEndpointArgs),
    /// `NodePublishVolume`: mount a volume read-only at DIR, as a kubelet does for an inline
    /// `csi` volume with `readOnly: true`.
    Publish(CsiPublishArgs),
    /// `NodeUnpublishVolume`: unmount DIR and remove it.
    Unpublish(CsiTargetArgs),
    /// `NodeGetVolumeStats`: the size of what is mounted at DIR and whether it is healthy.
    Stats(CsiTargetArgs),
}

/// The plugin's socket.
#[derive(Debug, Args)]
pub struct CsiEndpointArgs {
    /// The plugin's socket: `unix:///PATH`.
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: String,
    /// Seconds to wait for an answer.
    #[arg(long, value_name = "SECS", default_value_t = 130)]
    pub timeout: u64,
}

/// A published volume: its id and target.
#[derive(Debug, Args)]
pub struct CsiTargetArgs {
    #[command(flatten)]
    pub endpoint: CsiEndpointArgs,
    /// The volume's id (the kubelet uses `csi-<hash>`).
    #[arg(long, value_name = "ID")]
    pub volume_id: String,
    /// The mount's target folder (under the kubelet's `pods/`).
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
}

/// `tinycdn csi publish`.
#[derive(Debug, Args)]
pub struct CsiPublishArgs {
    #[command(flatten)]
    pub target: CsiTargetArgs,
    /// A volume attribute, as a pod's `volumeAttributes` (repeat: `volume=site-media`,
    /// `ref=stable`).
    #[arg(long = "attribute", value_name = "KEY=VALUE", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
}

fn parse_attribute(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// The arguments of `tinycdn serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Address to listen on (`127.0.0.1:0` picks a free port; the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The arguments of `tinycdn purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The edge (`http://HOST:PORT`).
    #[arg(long, value_name = "URL")]
    pub edge: String,
    /// The file holding the edge's purge token (as given to `--purge-token-file`).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// A URL to purge: absolute (`http://host/path?q`) or a path on every host; repeatable.
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// A URL prefix to purge, absolute or a path; repeatable.
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,
    /// A surrogate key (`Surrogate-Key`/`Cache-Tag` of the responses) to purge; repeatable.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// Mark for revalidation instead of dropping (still usable under stale-if-error).
    #[arg(long)]
    pub soft: bool,
}

/// The arguments of `tinycdn sign-url`.
#[derive(Debug, Args)]
pub struct SignUrlArgs {
    /// The URL or path with its query (`/img/a.jpg?w=640`).
    pub url: String,
    /// A key file (one key per line; the first signs).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
}

/// The arguments of `tinycdn audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Access logs (plain or gzip; many files are read in time order).
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// `auto` (detected from the first lines), `nginx` (combined, with `$request_time` and
    /// `$upstream_response_time` when appended), `common`, `json` (tinycdn's), `cloudfront`.
    #[arg(long, value_name = "FORMAT", default_value = "auto",
          value_parser = ["auto", "nginx", "common", "json", "cloudfront"])]
    pub format: String,
    /// Cache sizes to simulate: bytes, sizes (`256MiB`) or shares of the working set (`1%`),
    /// comma-separated (default: 0.1 % to 30 % of the working set).
    #[arg(long, value_name = "LIST")]
    pub cache_sizes: Option<String>,
    /// Policies to simulate (default all but the edge variants): lru, fifo, sieve, s3-fifo,
    /// w-tinylfu, belady, edge (the edge's two tiers as it ships), and edge-fifo,
    /// edge-sieve, edge-s3-fifo (its disk tier under each policy it offers).
    #[arg(long, value_name = "LIST")]
    pub policies: Option<String>,
    /// Rows in each ranking.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// SHARDS sampling: the share of objects simulated (1: exact).
    #[arg(long, value_name = "RATE", default_value_t = 1.0)]
    pub sample: f64,
    /// Requests simulated at most; past it the sampling rate halves (bounded memory).
    #[arg(long, value_name = "N", default_value_t = 16_000_000)]
    pub sample_budget: usize,
    /// Object hit ratios to size the cache for.
    #[arg(
        long,
        value_name = "RATIO",
        value_delimiter = ',',
        default_value = "0.8,0.9,0.95"
    )]
    pub target_hit: Vec<f64>,
    /// Simulation threads (default: the cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The edge's memory tier as a share of its disk tier in the `edge` policies (default
    /// 5 %, as `--memory 512MiB` is to `--cache-size 10GiB`).
    #[arg(long, value_name = "SHARE")]
    pub edge_memory: Option<String>,
    /// Also write the audit as one self-contained HTML page (`-`: stdout): miss-ratio
    /// curves, answers, top objects, size and popularity distributions.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// The arguments of `tinycdn replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Access logs (plain or gzip; many files are read in time order).
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// A base URL to replay against (`http://HOST:PORT[/PREFIX]`); repeat to compare, the
    /// first being the baseline. Targets are replayed one after the other, never at once.
    #[arg(long = "target", value_name = "URL", required = true)]
    pub targets: Vec<String>,
    /// The log's format, as for `audit`.
    #[arg(long, value_name = "FORMAT", default_value = "auto",
          value_parser = ["auto", "nginx", "common", "json", "cloudfront"])]
    pub format: String,
    /// Requests started per second (`0`: as fast as `--concurrency` allows).
    #[arg(long, value_name = "N", default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds per target at most.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// GET requests replayed at most (the first ones of the log).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub limit: usize,
    /// Requests in flight at most.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds one request may take.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    /// Send the `Host` the log recorded (JSON and CloudFront logs have it).
    #[arg(long)]
    pub keep_host: bool,
}

/// The arguments of `tinycdn report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A store to report on.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// An edge (or origin) whose metrics to read; repeat for a fleet.
    #[arg(long = "edge", value_name = "URL")]
    pub edges: Vec<String>,
    /// Write the HTML page here (`-`: stdout).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The arguments of `tinycdn stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub store: StoreArg,
}
