//! The etcd client (`crates/etcd`) against real etcd clusters of the harness
//! (`e2e::etcd::EtcdCluster`): keys and prefixes, compare-and-swap, leases running out, watches
//! resumed from a revision, and a member killed under the client.
//!
//! Every cluster is the test's own and goes with its data when the test ends.

use e2e::etcd::EtcdCluster;
use etcd::{Client, Compare, Error, EventKind, LeaseId, Op, Txn};
use serde_json::json;
use std::time::{Duration, Instant};

fn client(cluster: &EtcdCluster) -> Client {
    Client::new(&cluster.endpoints()).expect("client")
}

/// Waits up to 10 s for `probe` to answer true.
async fn until(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn keys_and_prefixes_are_written_read_and_deleted() {
    let cluster = EtcdCluster::start(1);
    let etcd = client(&cluster);
    let p = cluster.prefix();

    assert_eq!(etcd.get(&format!("{p}missing")).await.unwrap(), None);
    let first = etcd.put(&format!("{p}b"), "2", None).await.unwrap();
    let second = etcd.put(&format!("{p}a"), "1", None).await.unwrap();
    assert!(second > first, "{first} {second}");
    etcd.put(&format!("{p}c/d"), vec![0u8, 0xff], None).await.unwrap();
    etcd.put(&format!("{p}b"), "", None).await.unwrap();
    // A key just past the prefix's range.
    let outside = format!("{}0", p.trim_end_matches('/'));
    etcd.put(&outside, "x", None).await.unwrap();

    let b = etcd.get(&format!("{p}b")).await.unwrap().expect("b is there");
    assert_eq!((b.value.as_slice(), b.version, b.create_revision, b.lease), (&b""[..], 2, first, None));
    assert!(b.mod_revision > b.create_revision);

    let listed = etcd.get_prefix(&p).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, [format!("{p}a"), format!("{p}b"), format!("{p}c/d")]);
    assert_eq!(listed[2].value, [0, 0xff]);

    etcd.put_json(&format!("{p}json"), &json!({"cpu": 4, "name": "node-1"}), None).await.unwrap();
    let (value, revision) = etcd.get_json::<serde_json::Value>(&format!("{p}json")).await.unwrap().unwrap();
    assert_eq!(value, json!({"cpu": 4, "name": "node-1"}));
    assert!(revision > second);
    assert!(matches!(etcd.get_json::<u32>(&format!("{p}a")).await, Ok(Some((1, _)))));
    assert!(matches!(etcd.get_json::<Vec<u8>>(&format!("{p}c/d")).await, Err(Error::Decode(_))));

    assert_eq!(etcd.delete(&format!("{p}a")).await.unwrap(), 1);
    assert_eq!(etcd.delete(&format!("{p}a")).await.unwrap(), 0);
    assert_eq!(etcd.delete_prefix(&p).await.unwrap(), 3);
    assert!(etcd.get_prefix(&p).await.unwrap().is_empty());
    assert!(etcd.get(&outside).await.unwrap().is_some(), "a key outside the prefix was deleted");

    let status = etcd.status().await.unwrap();
    assert!(status.is_leader(), "{status:?}");
    assert_eq!(status.endpoint, cluster.endpoint(0));
    assert!(status.version.starts_with("3."), "{status:?}");
}

#[tokio::test]
async fn compare_and_swap_takes_one_branch_atomically() {
    let cluster = EtcdCluster::start(1);
    let etcd = client(&cluster);
    let key = format!("{}leader", cluster.prefix());

    // Create only if absent: the first wins, the second reads the winner.
    let create = |value: &str| {
        Txn::new().when(Compare::version_eq(&key, 0)).and_then(Op::put(&key, value, None)).or_else(Op::get(&key))
    };
    let won = etcd.txn(create("one")).await.unwrap();
    assert!(won.succeeded);
    assert!(won.gets.is_empty(), "{won:?}");
    let lost = etcd.txn(create("two")).await.unwrap();
    assert!(!lost.succeeded);
    assert_eq!(lost.revision, won.revision, "a failed comparison writes nothing");
    assert_eq!(lost.gets.len(), 1);
    assert_eq!(lost.gets[0][0].value, b"one");

    // Swap on the revision read; a stale revision loses.
    let read = etcd.get(&key).await.unwrap().unwrap();
    let swap = |revision: i64, value: serde_json::Value| {
        Txn::new()
            .when(Compare::mod_revision_eq(&key, revision))
            .and_then(Op::put_json(&key, &value, None).unwrap())
            .and_then(Op::get(&key))
    };
    let swapped = etcd.txn(swap(read.mod_revision, json!({"n": 1}))).await.unwrap();
    assert!(swapped.succeeded);
    assert_eq!(swapped.gets[0][0].json::<serde_json::Value>().unwrap(), json!({"n": 1}));
    assert_eq!(swapped.gets[0][0].mod_revision, swapped.revision);
    let stale = etcd.txn(swap(read.mod_revision, json!({"n": 2}))).await.unwrap();
    assert!(!stale.succeeded);
    assert!(stale.gets.is_empty(), "the failure branch has no get");

    // Value and lease comparisons; a delete in the branch.
    let txn = Txn::new().when(Compare::value_eq(&key, r#"{"n":1}"#)).and_then(Op::delete(&key));
    assert!(etcd.txn(txn).await.unwrap().succeeded);
    assert_eq!(etcd.get(&key).await.unwrap(), None);
    let lease = etcd.grant(30).await.unwrap();
    etcd.put(&key, "held", Some(lease)).await.unwrap();
    assert!(!etcd.txn(Txn::new().when(Compare::lease_eq(&key, LeaseId(lease.0 + 1)))).await.unwrap().succeeded);
    let prefix = cluster.prefix();
    etcd.put(&format!("{prefix}x"), "1", None).await.unwrap();
    let txn = Txn::new().when(Compare::lease_eq(&key, lease)).and_then(Op::delete_prefix(&prefix));
    assert!(etcd.txn(txn).await.unwrap().succeeded);
    assert!(etcd.get_prefix(&prefix).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lease_keeps_its_keys_while_kept_alive_and_takes_them_when_it_expires() {
    let cluster = EtcdCluster::start(1);
    let etcd = client(&cluster);
    let p = cluster.prefix();
    let key = format!("{p}heartbeat");

    let lease = etcd.grant(2).await.unwrap();
    etcd.put(&key, "alive", Some(lease)).await.unwrap();
    assert_eq!(etcd.get(&key).await.unwrap().unwrap().lease, Some(lease));
    // Kept alive past twice its TTL.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(etcd.keep_alive(lease).await.unwrap(), Some(2));
    }
    assert!(etcd.get(&key).await.unwrap().is_some(), "the key went while its lease was kept alive");
    let left = etcd.time_to_live(lease).await.unwrap().expect("the lease is there");
    assert!((0..=2).contains(&left), "{left}");

    // Left alone, it expires and its key goes.
    let started = Instant::now();
    until("the key to go with its lease", async || etcd.get(&key).await.unwrap().is_none()).await;
    let expired_after = started.elapsed();
    assert!(expired_after >= Duration::from_millis(1000), "gone after {expired_after:?}");
    assert_eq!(etcd.keep_alive(lease).await.unwrap(), None);
    assert_eq!(etcd.time_to_live(lease).await.unwrap(), None);
    assert!(matches!(etcd.put(&key, "late", Some(lease)).await, Err(Error::LeaseNotFound)));

    // Revoking takes the keys at once; a lease revoked is not found again.
    let lease = etcd.grant(60).await.unwrap();
    etcd.put(&format!("{p}a"), "1", Some(lease)).await.unwrap();
    etcd.put(&format!("{p}b"), "2", Some(lease)).await.unwrap();
    let background = etcd.keep_alive_forever(lease, Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!background.is_finished());
    etcd.revoke(lease).await.unwrap();
    assert!(etcd.get_prefix(&p).await.unwrap().is_empty());
    assert!(matches!(etcd.revoke(lease).await, Err(Error::LeaseNotFound)));
    let why = tokio::time::timeout(Duration::from_secs(5), background).await.expect("the keep-alive ends").unwrap();
    assert!(matches!(why, Error::LeaseNotFound), "{why:?}");
}

#[tokio::test]
async fn a_watch_sees_puts_and_deletes_in_order_from_a_revision() {
    let cluster = EtcdCluster::start(1);
    let etcd = client(&cluster);
    let p = cluster.prefix();
    let (a, b) = (format!("{p}a"), format!("{p}b"));

    let start = etcd.put(&a, "1", None).await.unwrap();
    etcd.put(&b, "2", None).await.unwrap();
    etcd.delete(&a).await.unwrap();
    etcd.put(&format!("{}other", cluster.prefix()), "not watched", None).await.unwrap();

    // From the past: the history in order, then what happens next, live.
    let mut watch = etcd.watch_prefix(&p, Some(start)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.extend(watch.next().await.unwrap().expect("events"));
    }
    let summary: Vec<(EventKind, &str, &[u8])> =
        seen.iter().map(|event| (event.kind, event.kv.key.as_str(), event.kv.value.as_slice())).collect();
    assert_eq!(
        summary,
        [
            (EventKind::Put, a.as_str(), &b"1"[..]),
            (EventKind::Put, b.as_str(), b"2"),
            (EventKind::Delete, a.as_str(), b"")
        ]
    );
    assert!(seen.windows(2).all(|pair| pair[0].revision < pair[1].revision));
    assert_eq!(seen[0].revision, start);

    let live = etcd.put(&b, "3", None).await.unwrap();
    let events = watch.next().await.unwrap().expect("the live put");
    assert_eq!((events[0].kind, events[0].revision, events[0].kv.version), (EventKind::Put, live, 2));
    assert_eq!(watch.resume_revision(), live + 1);

    // Watching from now sees only what follows.
    let mut now = etcd.watch_prefix(&p, None).await.unwrap();
    assert_eq!(now.resume_revision(), live + 1);
    let next = etcd.put(&a, "4", None).await.unwrap();
    let events = now.next().await.unwrap().expect("the put after the watch began");
    assert_eq!((events.len(), events[0].revision), (1, next));

    // A revision compacted away is an error that names the compaction.
    etcd.compact(live).await.unwrap();
    let mut old = etcd.watch_prefix(&p, Some(start)).await.unwrap();
    match old.next().await {
        Err(Error::Compacted { compact_revision }) => assert_eq!(compact_revision, live),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_client_fails_over_when_its_member_is_killed() {
    let mut cluster = EtcdCluster::start(3);
    let etcd = client(&cluster);
    let p = cluster.prefix();

    let before = etcd.put(&format!("{p}before"), "1", None).await.unwrap();
    let mut watch = etcd.watch_prefix(&p, Some(before + 1)).await.unwrap();
    let status = etcd.status().await.unwrap();
    let victim = cluster.member_of(&status.endpoint).expect("the member answering");
    assert_eq!(status.endpoint, etcd.current_endpoint());

    cluster.stop_member(victim);
    let started = Instant::now();
    etcd.put(&format!("{p}during"), "2", None).await.unwrap();
    let failover = started.elapsed();
    assert_ne!(etcd.current_endpoint(), cluster.endpoint(victim));
    assert_eq!(etcd.get(&format!("{p}before")).await.unwrap().unwrap().value, b"1");
    assert_eq!(etcd.get_prefix(&p).await.unwrap().len(), 2);
    let answering = etcd.status().await.unwrap();
    assert_ne!(answering.endpoint, cluster.endpoint(victim));
    // The two left elect a leader if theirs was the one killed.
    until("a leader among the members left", async || etcd.status().await.is_ok_and(|s| s.leader != 0)).await;
    eprintln!("failed over in {failover:?}");

    // The watch on the killed member ends; watched again from where it stopped, nothing is lost.
    assert!(watch.next().await.unwrap().is_none(), "the watch outlived its member");
    let resume = watch.resume_revision();
    assert_eq!(resume, before + 1);
    let mut watch = etcd.watch_prefix(&p, Some(resume)).await.unwrap();
    let events = watch.next().await.unwrap().expect("the write made meanwhile");
    assert_eq!(events[0].kv.key, format!("{p}during"));

    // Back on its data, the member has caught up.
    cluster.start_member(victim);
    let alone = Client::new(&[cluster.endpoint(victim)]).unwrap();
    until("the restarted member to catch up", async || {
        alone.get(&format!("{p}during")).await.is_ok_and(|kv| kv.is_some())
    })
    .await;
    alone.put(&format!("{p}after"), "3", None).await.unwrap();
    assert_eq!(etcd.get_prefix(&p).await.unwrap().len(), 3);
}
