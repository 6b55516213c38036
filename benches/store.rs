//! What encryption at rest costs the store: one local commit (keystroke-sized edit, flushed to
//! SQLite) and a cold open of a workspace with 2,000 changes, plaintext vs SQLCipher.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use weft::model::Clock;
use weft::store::{Home, Replica};

fn key() -> weft::store::DbKey {
    let home = tempfile::tempdir().expect("tempdir");
    std::env::set_var("WEFT_KEYRING", "off");
    let h = Home::at(home.path());
    let secret =
        weft::store::secret::set_up(&h, weft::store::secret::Requested::Auto).expect("secret");
    secret.db_key()
}

fn commit(c: &mut Criterion) {
    let key = key();
    for (label, k) in [("plaintext", None), ("sqlcipher", Some(&key))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("weft.db");
        let mut r =
            Replica::create_with(&path, k, "bench", "0xabc", Clock::System).expect("create");
        let doc = r.workspace().create_doc("Doc", None).expect("doc");
        r.flush().expect("flush");
        let mut text = r.workspace().text(doc).expect("text");
        c.bench_function(&format!("store/commit_keystroke/{label}"), |b| {
            b.iter(|| {
                text.insert(0, "x").expect("insert");
                r.workspace().commit();
                r.flush().expect("flush");
            })
        });
    }
}

fn cold_open(c: &mut Criterion) {
    let key = key();
    for (label, k) in [("plaintext", None), ("sqlcipher", Some(&key))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("weft.db");
        {
            let mut r =
                Replica::create_with(&path, k, "bench", "0xabc", Clock::System).expect("create");
            let doc = r.workspace().create_doc("Doc", None).expect("doc");
            for i in 0..2000 {
                r.workspace()
                    .append_body(doc, &format!("line {i}\n"))
                    .expect("append");
                r.flush().expect("flush");
            }
        }
        c.bench_function(&format!("store/cold_open_2000_changes/{label}"), |b| {
            b.iter_batched(
                || (),
                |_| Replica::open_with(&path, k, "0xabc", Clock::System).expect("open"),
                BatchSize::PerIteration,
            )
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = commit, cold_open
}
criterion_main!(benches);
