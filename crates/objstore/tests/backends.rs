//! The backend contract, checked on object_store's in-memory store and on two real S3-compatible
//! servers started here (s3s-fs and moto), with a proxy that throttles and fails in front of them.

use std::sync::Arc;
use std::time::Duration;

use tinycdn_objstore::testing::{FaultProxy, Kind, S3Server};
use tinycdn_objstore::{ObjectBackend, Options};
use tinycdn_store::{Backend, Durability, Store, StoreError};

fn small() -> Options {
    Options {
        part_size: 5 << 20,
        retries: 3,
        retry_timeout: Duration::from_secs(20),
        lease_ttl: Duration::from_secs(3),
        lease_wait: Duration::from_millis(400),
    }
}

fn memory(options: Options) -> ObjectBackend {
    ObjectBackend::new(
        Arc::new(object_store::memory::InMemory::new()),
        "stores/a",
        "memory://",
        options,
    )
    .expect("backend")
}

/// What every backend must do, whatever is underneath.
fn contract(b: &ObjectBackend) {
    b.write("chunks/ab/x", b"hello", Durability::AtBarrier)
        .expect("write");
    b.write("tags/v/t", b"1", Durability::Immediate)
        .expect("write");
    b.write("tags/v/t", b"2", Durability::Immediate)
        .expect("replace");
    assert_eq!(b.read("tags/v/t").expect("read"), b"2");
    assert_eq!(b.size("chunks/ab/x").expect("size"), Some(5));
    assert_eq!(b.size("chunks/ab/none").expect("size"), None);
    assert_eq!(b.read_range("chunks/ab/x", 1, 3).expect("range"), b"ell");
    assert!(b.read_range("chunks/ab/x", 3, 9).is_err(), "short range");
    assert_eq!(
        b.hash("chunks/ab/x").expect("hash"),
        *blake3::hash(b"hello").as_bytes()
    );
    assert_eq!(b.list("chunks").expect("list"), vec!["chunks/ab/x"]);
    assert_eq!(b.list("tags/v").expect("list"), vec!["tags/v/t"]);
    assert!(b.list("nothing").expect("list").is_empty());
    assert!(b.read("nope/x").expect_err("missing").is_not_found());
    b.rename("chunks/ab/x", "quarantine/x").expect("rename");
    assert_eq!(b.size("chunks/ab/x").expect("size"), None);
    assert_eq!(b.read("quarantine/x").expect("moved"), b"hello");
    b.delete("quarantine/x").expect("delete");
    b.delete("quarantine/x").expect("delete twice");
    assert!(b.write("../escape", b"x", Durability::Immediate).is_err());

    // Conditional creation: the second creator loses and changes nothing.
    assert!(b.write_new("versions/v/1", b"a").expect("create"));
    assert!(!b.write_new("versions/v/1", b"b").expect("second create"));
    assert_eq!(b.read("versions/v/1").expect("read"), b"a");
    // Compare-and-swap: of two writers that read the same version, one wins.
    let (_, seen) = b.read_versioned("tags/v/t").expect("read").expect("exists");
    b.write_if("tags/v/t", b"3", Some(&seen))
        .expect("first swap");
    assert!(matches!(
        b.write_if("tags/v/t", b"4", Some(&seen)),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        b.write_if("tags/v/t", b"5", None),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(b.read("tags/v/t").expect("read"), b"3");
    b.write_if("tags/v/new", b"x", None)
        .expect("create if absent");

    // A file larger than a part goes up in parts and reads back whole.
    let big: Vec<u8> = (0..(11u32 << 20))
        .map(|i| (i * 7 + i / 4096) as u8)
        .collect();
    let n = b
        .write_stream("objects/big", &mut &big[..], Durability::AtBarrier)
        .expect("multipart");
    assert_eq!(n, big.len() as u64);
    assert_eq!(b.size("objects/big").expect("size"), Some(big.len() as u64));
    assert_eq!(
        b.hash("objects/big").expect("hash"),
        *blake3::hash(&big).as_bytes()
    );
    assert_eq!(
        b.read_range("objects/big", 6 << 20, 100).expect("range"),
        big[6 << 20..(6 << 20) + 100]
    );
}

/// One writer at a time; a dead writer's lease expires and is taken over.
fn lease(b: &ObjectBackend) {
    let held = b.lease().expect("lease").expect("object stores lease");
    match b.lease() {
        Err(StoreError::Locked { holder, .. }) => assert!(holder.contains("pid"), "{holder}"),
        other => panic!("a second writer got {other:?}"),
    }
    drop(held);
    drop(b.lease().expect("free after release"));
    // A writer killed while holding the lease left it behind: it stops being renewed and is
    // taken over once it expires, not before.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let dead = format!(
        r#"{{"holder":"dead","host":"gone","pid":1,"since":0,"expires":{}}}"#,
        now + 2
    );
    b.write("lease", dead.as_bytes(), Durability::Immediate)
        .expect("plant");
    match b.lease() {
        Err(StoreError::Locked { holder, .. }) => {
            assert!(holder.contains("gone pid 1"), "{holder}")
        }
        other => panic!("took a live lease: {other:?}"),
    }
    let mut patient = b.clone();
    patient_wait(&mut patient);
    let taken = patient.lease().expect("taken over after expiry");
    assert!(!String::from_utf8_lossy(&b.read("lease").expect("lease")).contains("dead"));
    drop(taken);
    assert_eq!(b.size("lease").expect("size"), None, "released");
}

fn patient_wait(b: &mut ObjectBackend) {
    *b = ObjectBackend::new(
        b.store_handle(),
        "stores/a",
        "patient",
        Options {
            lease_wait: Duration::from_secs(30),
            ..small()
        },
    )
    .expect("backend");
}

#[test]
fn in_memory_store() {
    let b = memory(small());
    contract(&b);
}

#[test]
fn s3s_fs() {
    let server = S3Server::start(Kind::S3sFs);
    contract(&server.backend("stores/a", small()));
}

#[test]
fn moto() {
    let server = S3Server::start(Kind::Moto);
    contract(&server.backend("stores/a", small()));
}

#[test]
fn leases_on_every_backend() {
    lease(&memory(small()));
    let s3s = S3Server::start(Kind::S3sFs);
    lease(&s3s.backend("stores/a", small()));
    let moto = S3Server::start(Kind::Moto);
    lease(&moto.backend("stores/a", small()));
}

#[test]
fn stores_under_different_prefixes_do_not_see_each_other() {
    let server = S3Server::start(Kind::S3sFs);
    let a = Store::init_backend(Box::new(server.backend("eu", small()))).expect("init a");
    let b = Store::init_backend(Box::new(server.backend("eu-west", small()))).expect("init b");
    a.raw_backend()
        .write("tags/v/t", b"a", Durability::Immediate)
        .expect("write");
    assert!(b.raw_backend().list("tags").expect("list").is_empty());
    // Init is idempotent on a store, refuses a prefix that holds other things, and open needs
    // the marker.
    Store::init_backend(Box::new(server.backend("eu", small()))).expect("init again");
    let other = server.backend("other", small());
    other
        .write("tags/x/y", b"not a store", Durability::Immediate)
        .expect("write");
    assert!(matches!(
        Store::init_backend(Box::new(other)),
        Err(StoreError::NotEmpty { .. })
    ));
    assert!(matches!(
        Store::open_backend(Box::new(server.backend("missing", small()))),
        Err(StoreError::NotAStore { .. })
    ));
}

#[test]
fn throttling_and_transient_errors_are_retried() {
    let server = S3Server::start(Kind::S3sFs);
    // Every third request answered 503 SlowDown by the proxy.
    let proxy = FaultProxy::start(server.port, &["--every", "3"]);
    let b = S3Server::backend_at(&proxy.endpoint(), "stores/a", small());
    contract(&b);
    let counts = proxy.stop();
    assert!(counts["faults"].as_u64().expect("faults") > 5, "{counts}");
    // Every write arrived once and whole: read it back directly.
    let direct = server.backend("stores/a", small());
    assert_eq!(direct.read("tags/v/t").expect("read"), b"3");
}

#[test]
fn a_failing_bucket_gives_a_clear_error_and_leaves_nothing() {
    let server = S3Server::start(Kind::S3sFs);
    let proxy = FaultProxy::start(server.port, &["--break-after", "0"]);
    let b = S3Server::backend_at(&proxy.endpoint(), "stores/a", small());
    let big = vec![7u8; 6 << 20];
    let err = b
        .write_stream("objects/big", &mut &big[..], Durability::AtBarrier)
        .expect_err("a bucket that fails every request");
    let msg = err.to_string();
    assert!(
        msg.contains("s3://media/stores/a") && msg.contains("objects/big"),
        "{msg}"
    );
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    drop(proxy);
    let direct = server.backend("stores/a", small());
    assert!(direct.list("objects").expect("list").is_empty());
}
