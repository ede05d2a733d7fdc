//! The CSI node plugin (`tinycdn agent --csi-endpoint`), with the test playing the kubelet over
//! the plugin's socket: the node-side cases of the Kubernetes CSI sanity suite (capabilities,
//! info, argument errors, idempotency, target removal), read-only `nosuid,nodev` mounts of
//! verified content shared between pods, a tag followed inside a mount while a reader holds a
//! file open, `kill -9` and restart, a corrupted mirror and an untrusted signer, a slow pull.
//!
//! Mounting needs root: each test runs itself again inside a private mount namespace
//! (`unshare -m`), so nothing it mounts is seen outside it or outlives it.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tinycdn_csi::Client;
use tinycdn_telemetry::scrape;
use tonic::Code;

use super::support::*;

/// Runs the test `name` again in a private mount namespace; true when this process is that run
/// (the caller goes on with its body), false when the run happened in a child (and passed).
#[track_caller]
fn in_mount_namespace(name: &str) -> bool {
    if std::env::var_os("TINYCDN_IN_MOUNT_NAMESPACE").is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("TINYCDN_IN_MOUNT_NAMESPACE", "1")
        .output()
        .expect("unshare (util-linux) runs; these tests need root");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a mount namespace: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// A node: an origin with `site-media@stable`, the agent with its CSI socket, a kubelet's pods
/// folder, and the test's client.
struct Node {
    d: PathBuf,
    socket: PathBuf,
    agent: Option<Served>,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    _origin: Option<Served>,
}

fn attributes(volume: &str, reference: &str) -> HashMap<String, String> {
    [
        ("volume", volume),
        ("ref", reference),
        ("csi.storage.k8s.io/pod.name", "web-0"),
        ("csi.storage.k8s.io/ephemeral", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Node {
    /// The agent pulling from `mirror` with `[csi]` settings `extra`.
    fn start(d: &Path, mirror: &str, extra: &str, origin: Option<Served>) -> Self {
        fs::write(
            d.join("agent.toml"),
            format!(
                "store = \"node/store\"\nfrom = [\"{mirror}\"]\ntrust = [\"pub.key.pub\"]\ninterval = 1\nkeep = 1\n\n[csi]\nkubelet_dir = \"kubelet\"\n{extra}\n"
            ),
        )
        .expect("write");
        let mut node = Self {
            d: d.to_path_buf(),
            socket: d.join("csi/csi.sock"),
            agent: None,
            // Threads of its own drive the client's connection between calls.
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
            client: None,
            _origin: origin,
        };
        node.restart();
        node
    }

    fn restart(&mut self) {
        self.client = None;
        self.agent = None;
        let endpoint = format!("unix://{}", self.socket.display());
        self.agent = Some(Served::spawn(
            &self.d,
            &[
                "agent",
                "--config",
                "agent.toml",
                "--listen",
                "127.0.0.1:0",
                "--csi-endpoint",
                &endpoint,
            ],
        ));
        let client = self
            .rt
            .block_on(Client::connect(&self.socket, Duration::from_secs(60)))
            .expect("the plugin listens once the agent printed its URL");
        self.client = Some(client);
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected")
    }

    fn target(&self, pod: &str) -> PathBuf {
        self.d.join(format!(
            "kubelet/pods/{pod}/volumes/kubernetes.io~csi/media/mount"
        ))
    }

    fn publish(&mut self, id: &str, pod: &str, volume: &str, reference: &str) -> Result<(), Code> {
        let target = self.target(pod);
        let client = self.client.as_mut().expect("connected");
        self.rt
            .block_on(client.publish(id, &target, attributes(volume, reference)))
            .map_err(|s| s.code())
    }

    fn publish_status(
        &mut self,
        req: tinycdn_csi::proto::NodePublishVolumeRequest,
    ) -> tonic::Status {
        let client = self.client.as_mut().expect("connected");
        self.rt
            .block_on(client.publish_request(req))
            .expect_err("refused")
    }

    fn unpublish(&mut self, id: &str, pod: &str) -> Result<(), Code> {
        let target = self.target(pod);
        let client = self.client.as_mut().expect("connected");
        self.rt
            .block_on(client.unpublish(id, &target))
            .map_err(|s| s.code())
    }

    fn folders(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.d.join("node/csi/volumes"))
            .map(|e| {
                e.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// A change to a good publish request that makes it bad.
type Mutation = Box<dyn Fn(&mut tinycdn_csi::proto::NodePublishVolumeRequest)>;

/// The mount at `path` in this process's mount table: (root, options).
fn mount_at(path: &Path) -> Option<(PathBuf, Vec<String>)> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mounts = tinycdn_csi::mountinfo::parse(&text).expect("parses");
    tinycdn_csi::mountinfo::at(&mounts, path).map(|m| (m.root.clone(), m.options.clone()))
}

/// Every file under `root` (following the mount's top-level links) with its bytes.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in fs::read_dir(dir).expect("list").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("..") {
                continue;
            }
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).expect("stat");
            if meta.file_type().is_symlink() && dir != base {
                out.push((
                    rel,
                    fs::read_link(&path)
                        .expect("link")
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push((rel, fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn a_kubelets_calls_mount_verified_volumes_read_only_shared_by_pods() {
    if !in_mount_namespace("csi::a_kubelets_calls_mount_verified_volumes_read_only_shared_by_pods")
    {
        return;
    }
    let dir = setup();
    let d = dir.path();
    let v1 = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    let origin = Served::start(d, &[]);
    let url = origin.url.clone();
    let mut node = Node::start(d, &url, "", Some(origin));

    // Identity and capabilities, as the sanity suite checks them.
    let probed = node
        .rt
        .block_on(node.client.as_mut().expect("c").probe())
        .expect("probe");
    assert_eq!(probed.info.name, "volumes.tinycdn.dev");
    assert!(!probed.info.vendor_version.is_empty());
    assert!(probed.ready);
    assert!(!probed.node.node_id.is_empty());
    assert_eq!(
        probed.capabilities,
        ["GET_VOLUME_STATS", "VOLUME_CONDITION"]
    );
    let cli = ok(
        &[
            "csi",
            "probe",
            "--endpoint",
            &format!("unix://{}", node.socket.display()),
        ],
        d,
    );
    assert!(
        cli.contains("volumes.tinycdn.dev") && cli.contains("ready"),
        "{cli}"
    );

    // Argument errors: each field named, nothing mounted.
    let t1 = node.target("p1");
    let good = Client::request("csi-1", &t1, attributes("site-media", "stable"));
    let bad: Vec<(Mutation, &str)> = vec![
        (Box::new(|r| r.volume_id.clear()), "volume_id"),
        (Box::new(|r| r.target_path.clear()), "target_path"),
        (
            Box::new(|r| r.volume_capability = None),
            "volume_capability",
        ),
        (Box::new(|r| r.readonly = false), "read-only"),
        (
            Box::new(|r| r.target_path = "/etc/tinycdn".into()),
            "outside the kubelet",
        ),
        (
            Box::new(|r| {
                r.volume_context.insert("colour".into(), "red".into());
            }),
            "unknown attribute \"colour\"",
        ),
        (
            Box::new(|r| {
                r.volume_context.remove("volume");
            }),
            "volume attribute is required",
        ),
        (
            Box::new(|r| {
                r.volume_context.insert("ref".into(), "stable/../x".into());
            }),
            "neither a tag nor",
        ),
    ];
    for (mutate, why) in bad {
        let mut req = good.clone();
        mutate(&mut req);
        let status = node.publish_status(req);
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        assert!(
            status.message().contains(why),
            "{why}: {}",
            status.message()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let c = node.client();
    let e = rt.block_on(c.unpublish("", &t1)).expect_err("no id");
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = rt
        .block_on(c.unpublish("csi-1", Path::new("")))
        .expect_err("no target");
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = rt.block_on(c.stats("", &t1)).expect_err("no id");
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = rt
        .block_on(c.stats("csi-1", &t1))
        .expect_err("not published");
    assert_eq!(e.code(), Code::NotFound);
    assert!(mount_at(&t1).is_none() && !t1.exists());

    // A version whose top-level names collide with the mount's own links is refused.
    fs::create_dir_all(d.join("weird")).expect("mkdir");
    fs::write(d.join("weird/..data"), "x").expect("write");
    ok(
        &[
            "publish", "weird", "--store", "store", "--volume", "weird", "--tag", "stable",
            "--key", "pub.key",
        ],
        d,
    );
    let mut req = good.clone();
    req.volume_context.insert("volume".into(), "weird".into());
    let status = node.publish_status(req);
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("reserved"),
        "{}",
        status.message()
    );
    assert!(mount_at(&t1).is_none());

    // Unknown volume or tag: NOT_FOUND.
    assert_eq!(
        node.publish("csi-9", "p9", "no-such-volume", "stable"),
        Err(Code::NotFound)
    );
    assert_eq!(
        node.publish("csi-9", "p9", "site-media", "nightly"),
        Err(Code::NotFound)
    );

    // Published: read-only, nosuid, nodev; the version byte for byte.
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("publish");
    let (root, options) = mount_at(&t1).expect("mounted");
    for o in ["ro", "nosuid", "nodev"] {
        assert!(options.contains(&o.to_owned()), "{o} in {options:?}");
    }
    assert_eq!(tree(&t1), tree(&d.join("media")));
    let err = fs::write(t1.join("site/app.css"), "x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(30), "EROFS: {err}");
    assert!(fs::write(t1.join("new"), "x").is_err());
    // Idempotent: the same publish again; another volume at the target is ALREADY_EXISTS.
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("again");
    assert_eq!(
        node.publish("csi-7", "p1", "site-media", "stable"),
        Err(Code::AlreadyExists)
    );

    // A second pod shares the node's one checkout; a pinned id gets a folder of its own.
    node.publish("csi-2", "p2", "site-media", "stable")
        .expect("second pod");
    assert_eq!(mount_at(&node.target("p2")).expect("mounted").0, root);
    node.publish("csi-3", "p3", "site-media", &v1)
        .expect("pinned");
    assert_eq!(tree(&node.target("p3")), tree(&d.join("media")));
    assert_eq!(
        node.folders(),
        [format!("site-media@{v1}"), "site-media@stable".into()]
    );

    // Stats: the version's size; the condition healthy.
    let s = rt
        .block_on(node.client().stats("csi-1", &t1))
        .expect("stats");
    let media_bytes: u64 = tree(&d.join("media"))
        .iter()
        .filter(|(p, _)| !p.ends_with("hero.jpg"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(s.usage[0].used, i64::try_from(media_bytes).expect("size"));
    assert!(!s.volume_condition.expect("condition").abnormal);

    // The agent's /metrics count the calls and the mounts.
    let url = node.agent.as_ref().expect("agent").url.clone();
    let (status, body) = http_get(&format!("{url}/metrics"));
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(
        scrape::sum(&text, "tinycdn_csi_published", &[]),
        3.0,
        "{text}"
    );
    let invalid = [("call", "publish"), ("code", "INVALID_ARGUMENT")];
    assert!(
        scrape::sum(&text, "tinycdn_csi_calls_total", &invalid) >= 8.0,
        "{text}"
    );
    let found = [("call", "publish"), ("code", "NOT_FOUND")];
    assert_eq!(
        scrape::sum(&text, "tinycdn_csi_calls_total", &found),
        2.0,
        "{text}"
    );

    // Unpublish: the target goes; twice is fine; the folder goes with its last pod.
    node.unpublish("csi-1", "p1").expect("unpublish");
    assert!(mount_at(&t1).is_none() && !t1.exists());
    node.unpublish("csi-1", "p1").expect("again");
    assert_eq!(node.folders().len(), 2, "p2 still uses site-media@stable");
    node.unpublish("csi-2", "p2").expect("unpublish");
    assert_eq!(node.folders(), [format!("site-media@{v1}")]);
    assert_eq!(node.unpublish("csi-wrong", "p3"), Err(Code::NotFound));

    // The CLI says the gRPC status and exits 1.
    let endpoint = format!("unix://{}", node.socket.display());
    let t9 = node.target("p9");
    let err = fails(
        &[
            "csi",
            "publish",
            "--endpoint",
            &endpoint,
            "--volume-id",
            "csi-9",
            "--target",
            t9.to_str().expect("utf-8"),
            "--attribute",
            "volume=site-media",
        ],
        d,
        1,
    );
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("ref attribute"),
        "{err}"
    );
    let t3 = node.target("p3");
    ok(
        &[
            "csi",
            "unpublish",
            "--endpoint",
            &endpoint,
            "--volume-id",
            "csi-3",
            "--target",
            t3.to_str().expect("utf-8"),
        ],
        d,
    );
    assert!(node.folders().is_empty());
}

#[test]
fn a_tag_is_followed_inside_the_mount_and_a_killed_plugin_harms_no_pod() {
    if !in_mount_namespace(
        "csi::a_tag_is_followed_inside_the_mount_and_a_killed_plugin_harms_no_pod",
    ) {
        return;
    }
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let url = origin.url.clone();
    let mut node = Node::start(d, &url, "refresh = 1", Some(origin));
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("publish");
    node.publish("csi-2", "p2", "site-media", "stable")
        .expect("publish");
    let t1 = node.target("p1");
    // A reader holds the old stylesheet open.
    let mut held = fs::File::open(t1.join("site/app.css")).expect("open");

    fs::write(d.join("media/site/app.css"), "body { margin: 2px }\n").expect("write");
    fs::write(d.join("media/site/new.txt"), "new\n").expect("write");
    publish(d, "media", "stable");
    std::thread::sleep(Duration::from_millis(1100));
    // The kubelet's periodic republish finds the tag moved and switches the content in place,
    // for every pod using the folder.
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("republish");
    assert_eq!(
        fs::read_to_string(t1.join("site/app.css")).expect("read"),
        "body { margin: 2px }\n"
    );
    assert_eq!(tree(&node.target("p2")), tree(&d.join("media")));
    let mut old = String::new();
    held.read_to_string(&mut old)
        .expect("the old file stays readable");
    assert_eq!(old, "body { margin: 0 }\n");
    // A republish that finds nothing changed keeps everything as it is.
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("republish");

    // kill -9: the mounts keep working; a new plugin takes them over.
    let agent = node.agent.take().expect("agent");
    signal(&agent.child, "-KILL");
    drop(agent);
    assert_eq!(
        fs::read_to_string(t1.join("site/new.txt")).expect("read"),
        "new\n"
    );
    // As if the plugin had been killed between its bind and its remount: the mount writable.
    let status = Command::new("mount")
        .args(["-o", "remount,bind,rw"])
        .arg(&t1)
        .status()
        .expect("mount runs");
    assert!(status.success());
    assert!(!mount_at(&t1).expect("mounted").1.contains(&"ro".to_owned()));
    // As if the node had rebooted under pod 2: its mount is gone, its record is not.
    let t2 = node.target("p2");
    assert!(Command::new("umount")
        .arg(&t2)
        .status()
        .expect("umount")
        .success());
    node.restart();
    // The new plugin made it read-only, nosuid, nodev again before serving.
    let (_, options) = mount_at(&t1).expect("still mounted");
    for o in ["ro", "nosuid", "nodev"] {
        assert!(options.contains(&o.to_owned()), "{o} in {options:?}");
    }
    node.publish("csi-1", "p1", "site-media", "stable")
        .expect("known after restart");
    node.unpublish("csi-1", "p1").expect("unpublish");
    // Pod 2's record was dropped at start; its unpublish still clears the target.
    node.unpublish("csi-2", "p2").expect("unpublish");
    assert!(!t2.exists());
    assert!(mount_at(&t1).is_none() && !t1.exists());
    assert!(node.folders().is_empty());
    // Nothing uses version 1 now: the agent's gc (keep = 1) collects it.
    let versions = json(&["volumes", "--store", "node/store"], d).to_string();
    assert!(!versions.contains("\"number\":1,"), "{versions}");

    // Records lost by hand while a pod runs: the next start keeps the mounted folder (the pod's
    // files stay), and an unpublish still unmounts what the plugin made.
    node.publish("csi-5", "p5", "site-media", "stable")
        .expect("publish");
    let agent = node.agent.take().expect("agent");
    signal(&agent.child, "-KILL");
    drop(agent);
    fs::remove_dir_all(d.join("node/csi/publications")).expect("records gone");
    node.restart();
    let t5 = node.target("p5");
    assert_eq!(
        fs::read_to_string(t5.join("site/new.txt")).expect("still there"),
        "new\n"
    );
    node.unpublish("csi-5", "p5").expect("unpublish");
    assert!(mount_at(&t5).is_none() && !t5.exists());
}

#[test]
fn bad_mirrors_and_signers_never_produce_a_mount_and_a_slow_pull_is_retried() {
    if !in_mount_namespace(
        "csi::bad_mirrors_and_signers_never_produce_a_mount_and_a_slow_pull_is_retried",
    ) {
        return;
    }
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    // Another publisher's volume in the same store: its signer is not trusted by the node.
    ok(&["key", "generate", "--out", "other.key"], d);
    ok(
        &[
            "publish",
            "media",
            "--store",
            "store",
            "--volume",
            "other",
            "--tag",
            "stable",
            "--key",
            "other.key",
        ],
        d,
    );
    // A mirror whose every object was corrupted on disk.
    ok(&["init", "--store", "bad"], d);
    copy_tree(&d.join("store"), &d.join("bad"));
    for e in walk_files(&d.join("bad/objects")) {
        let mut bytes = fs::read(&e).expect("read");
        if let Some(b) = bytes.get_mut(100) {
            *b ^= 0xff;
        }
        let mut perm = fs::metadata(&e).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        fs::set_permissions(&e, perm).expect("chmod");
        fs::write(&e, bytes).expect("corrupt");
    }
    let bad = Served::spawn(d, &["serve", "--store", "bad", "--listen", "127.0.0.1:0"]);
    let bad_url = bad.url.clone();
    let mut node = Node::start(d, &bad_url, "publish_wait = 20", Some(bad));
    let refused = node.publish("csi-1", "p1", "site-media", "stable");
    assert!(refused.is_err(), "{refused:?}");
    assert!(mount_at(&node.target("p1")).is_none());
    assert!(node.folders().iter().all(|f| !node
        .d
        .join("node/csi/volumes")
        .join(f)
        .join("..data")
        .exists()));

    drop(node);

    // A good origin: a version signed by an untrusted key fails verification.
    let origin = Served::start(d, &[]);
    let slow = slow_mirror(&origin.url);
    let mut node = Node::start(d, &origin.url, "publish_wait = 20", None);
    assert_eq!(
        node.publish("csi-1", "p1", "other", "stable"),
        Err(Code::FailedPrecondition)
    );
    assert!(mount_at(&node.target("p1")).is_none());

    // A slow mirror: UNAVAILABLE after the wait, the pull goes on, the retry succeeds.
    drop(node);
    let mut node = Node::start(d, &slow.0, "publish_wait = 1", None);
    assert_eq!(
        node.publish("csi-1", "p1", "site-media", "stable"),
        Err(Code::Unavailable)
    );
    assert!(mount_at(&node.target("p1")).is_none());
    let mut tries = 0;
    while node.publish("csi-1", "p1", "site-media", "stable") == Err(Code::Unavailable) {
        tries += 1;
        assert!(tries < 60, "the background pull never finished");
    }
    assert_eq!(tree(&node.target("p1")), tree(&d.join("media")));
    node.unpublish("csi-1", "p1").expect("unpublish");
    drop(node);
    drop(slow);
    drop(origin);
}

/// A mirror that delays every read by 150 ms, in front of `target`; kept alive with its runtime.
fn slow_mirror(target: &str) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url = rt.block_on(tinycdn_server::testing::slow_proxy(
        target,
        Duration::from_millis(150),
    ));
    (url, rt)
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("list").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).expect("list").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            fs::create_dir_all(&dst).expect("mkdir");
            copy_tree(&src, &dst);
        } else if !dst.exists() {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}
