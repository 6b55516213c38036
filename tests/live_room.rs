//! Live sync in one process, with the real relay on 127.0.0.1 and each device's own database:
//! a real editing trace split between two live clients arrives intact; garbage sent into the room
//! is kept in quarantine and the client stays connected.

mod acl_common;
mod shared_common;

use std::io::Read;
use std::time::{Duration, Instant};

use futures::SinkExt;
use shared_common::*;
use weft::acl::Role;
use weft::identity::LocalWallet;

fn text(dev: &mut Dev) -> String {
    body_now(dev, "Trace")
}

fn wait_text(dev: &mut Dev, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = text(dev);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the live copy never caught up: {} chars of {}; pending {:?}; refused {:?}",
            got.chars().count(),
            want.chars().count(),
            dev.r().engine().unwrap().pending(),
            dev.r()
                .quarantine()
                .iter()
                .map(|q| q.reason.to_string())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_real_editing_trace_split_between_two_live_clients_arrives_intact() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/traces/seph-blog1.json.gz"
    );
    let Ok(file) = std::fs::File::open(path) else {
        if std::env::var("WEFT_REQUIRE_VECTORS").as_deref() == Ok("1") {
            panic!(
                "the editing traces are required (WEFT_REQUIRE_VECTORS=1) but {path} is missing"
            );
        }
        println!("skipping: {path} is not here");
        return;
    };
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    let trace: serde_json::Value = serde_json::from_str(&json).unwrap();
    let txns = trace["txns"].as_array().unwrap();
    let (url, relay_thread, stop) = relay();
    let (mut owner, mut editor, _a, _b) = pair(&url, "Trace");
    // The first 3,000 transactions, in turns of 100, alternating between the two clients; each
    // turn starts once the other client's turn has arrived live.
    let mut expected: Vec<char> = Vec::new();
    for (turn, chunk) in txns[..3000].chunks(100).enumerate() {
        let dev = if turn % 2 == 0 {
            &mut owner
        } else {
            &mut editor
        };
        dev.r().refresh().unwrap();
        let id = doc_id(dev.r(), "Trace");
        let mut body = dev.r().workspace().text(id).unwrap();
        for txn in chunk {
            for patch in txn["patches"].as_array().unwrap() {
                let pos = patch[0].as_u64().unwrap() as usize;
                let del = patch[1].as_u64().unwrap() as usize;
                let ins = patch[2].as_str().unwrap();
                if del > 0 {
                    body.delete(pos, del).unwrap();
                    expected.drain(pos..pos + del);
                }
                if !ins.is_empty() {
                    body.insert(pos, ins).unwrap();
                    let at = pos;
                    for (k, c) in ins.chars().enumerate() {
                        expected.insert(at + k, c);
                    }
                }
            }
        }
        dev.r().workspace().commit();
        dev.r().flush().unwrap();
        let want: String = expected.iter().collect();
        let other = if turn % 2 == 0 {
            &mut editor
        } else {
            &mut owner
        };
        wait_text(other, &want);
    }
    let want: String = expected.iter().collect();
    assert_eq!(text(&mut owner), want);
    assert_eq!(text(&mut editor), want);
    assert!(want.chars().count() > 1000, "the prefix wrote real text");
    let _ = stop.send(());
    relay_thread.join().unwrap();
}

#[test]
fn garbage_in_the_room_is_quarantined_and_the_client_stays_connected() {
    let (url, relay_thread, stop) = relay();
    let (mut owner, mut editor, a, _b) = pair(&url, "Trace");
    let id = owner.r().engine().unwrap().workspace_id();
    let room = weft::sync::share::carrier_key(owner.r()).unwrap().room(&id);
    // Someone who knows the room sends junk.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let room_url = weft::sync::room::room_url(&url, &room).unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(room_url).await.unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            b"definitely not a frame".to_vec().into(),
        ))
        .await
        .unwrap();
        ws.close(None).await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while owner.r().quarantine().is_empty() {
        owner.r().refresh().unwrap();
        assert!(Instant::now() < deadline, "the junk was never kept");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(a.status().online, "still connected");
    // And changes still flow.
    let id = doc_id(editor.r(), "Trace");
    editor
        .r()
        .workspace()
        .set_body(id, "after the junk")
        .unwrap();
    editor.r().flush().unwrap();
    wait_text(&mut owner, "after the junk");
    let _ = stop.send(());
    relay_thread.join().unwrap();
}

/// Every byte of `blobs` is free of each needle.
fn assert_no_plaintext(what: &str, blobs: &[Vec<u8>], needles: &[Vec<u8>]) {
    for b in blobs {
        for n in needles {
            assert!(
                !b.windows(n.len()).any(|w| w == n.as_slice()),
                "{what} holds {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
}

#[test]
fn every_frame_the_relay_forwards_is_ciphertext() {
    use futures::StreamExt;
    let (url, relay_thread, stop) = relay();
    let (mut owner, mut editor, _a, _b) = pair(&url, "Trace");
    let id = owner.r().engine().unwrap().workspace_id();
    let room = weft::sync::share::carrier_key(owner.r()).unwrap().room(&id);
    let room_url = weft::sync::room::room_url(&url, &room).unwrap();
    // A listener in the room records everything the relay forwards.
    let (frames_tx, frames_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(room_url).await.unwrap();
            tokio::pin!(done_rx);
            loop {
                tokio::select! {
                    _ = &mut done_rx => return,
                    m = ws.next() => match m {
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => {
                            let _ = frames_tx.send(b.to_vec());
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        });
    });
    std::thread::sleep(Duration::from_millis(300));
    // A reconnect makes both say hello and answer with everything they hold.
    let doc = doc_id(owner.r(), "Trace");
    owner
        .r()
        .workspace()
        .set_body(doc, "the secret is swordfish")
        .unwrap();
    owner
        .r()
        .workspace()
        .create_doc("Quarterly plan", None)
        .unwrap();
    owner.r().flush().unwrap();
    wait_text(&mut editor, "the secret is swordfish");
    let editor_doc = doc_id(editor.r(), "Trace");
    editor
        .r()
        .workspace()
        .append_body(editor_doc, " and the door code")
        .unwrap();
    editor.r().flush().unwrap();
    wait_text(&mut owner, "the secret is swordfish and the door code");
    let live_c = live(&editor, &url); // a third connection: its Hello is answered with the whole log
    wait_online(&live_c);
    std::thread::sleep(Duration::from_millis(500));
    let _ = done_tx.send(());
    listener.join().unwrap();
    let frames: Vec<Vec<u8>> = frames_rx.try_iter().collect();
    assert!(
        frames.len() >= 4,
        "the listener saw the traffic: {}",
        frames.len()
    );
    let mut needles: Vec<Vec<u8>> = vec![
        b"swordfish".to_vec(),
        b"door code".to_vec(),
        b"Quarterly plan".to_vec(),
        b"Trace".to_vec(),
    ];
    for dev in [&owner, &editor] {
        let a = dev.device.identity.address();
        needles.push(a.to_checksum().into_bytes());
        needles.push(a.to_checksum().to_lowercase().into_bytes());
        needles.push(a.to_checksum()[2..].to_lowercase().into_bytes());
        needles.push(a.as_bytes().to_vec());
    }
    assert_no_plaintext("a relayed frame", &frames, &needles);
    let _ = stop.send(());
    relay_thread.join().unwrap();
}

#[test]
fn each_member_sees_who_else_is_here_and_what_they_have_open() {
    let (url, relay_thread, stop) = relay();
    let (owner, editor, a, b) = pair(&url, "Trace");
    a.set_view("doc: Trace");
    b.set_view("board: Sprint");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (pa, pb) = (a.peers(), b.peers());
        let b_sees_a = pb.iter().any(|p| {
            p.address == owner.device.identity.address().to_checksum() && p.view == "doc: Trace"
        });
        let a_sees_b = pa.iter().any(|p| {
            p.address == editor.device.identity.address().to_checksum() && p.view == "board: Sprint"
        });
        if a_sees_b && b_sees_a {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "presence never arrived: {pa:?} / {pb:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Moving on is seen too.
    a.set_view("card: Fix login");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.peers().iter().any(|p| p.view == "card: Fix login") {
        assert!(Instant::now() < deadline, "the move was never seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.peers().len(), 1, "one entry per device");
    let _ = stop.send(());
    relay_thread.join().unwrap();
}

#[test]
fn presence_from_a_non_member_key_or_an_old_epoch_is_ignored() {
    use weft::sync::live::{presence_frame, Sealer};
    let (url, relay_thread, stop) = relay();
    let (ow, ew, cw) = (
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
    );
    let mut owner = found(&ow);
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    owner.r().add_member(cw.address(), Role::Editor).unwrap();
    let mut editor = join(&owner, &ew);
    let mut carol = join(&owner, &cw);
    carry(&mut owner, &mut editor);
    carry(&mut owner, &mut carol);
    editor.r().publish_device().unwrap();
    carol.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    settle(&mut carol, &mut owner);
    // Removing carol starts a new key epoch; epoch 1's key stays with everyone who held it.
    owner.r().remove_member(cw.address()).unwrap();
    settle(&mut owner, &mut editor);
    let a = live(&owner, &url);
    wait_online(&a);
    // The keys as the owner's live worker holds them (it may have published a key duty of its
    // own on opening the database).
    std::thread::sleep(Duration::from_millis(500));
    owner.r().refresh().unwrap();
    let engine = owner.r().engine().unwrap();
    let current = engine.current_epoch();
    assert!(current >= 2, "the removal rotated the key");
    let id = engine.workspace_id();
    let sealer = Sealer {
        key: weft::sync::share::carrier_key(owner.r()).unwrap(),
        id,
    };
    let room = sealer.key.room(&id);
    let engine = owner.r().engine().unwrap();
    let editor_address = ew.address().to_checksum();
    let stranger = weft::identity::DeviceKey::generate();
    let frames = [
        // The editor's own device, current epoch: shown.
        presence_frame(
            engine,
            &sealer,
            None,
            &editor.device.key,
            &editor_address,
            "doc: Honest",
        )
        .unwrap(),
        // A key no member certified, under the current key: ignored.
        presence_frame(
            engine,
            &sealer,
            None,
            &stranger,
            &editor_address,
            "doc: Stranger",
        )
        .unwrap(),
        // The editor's device, under the old epoch's key: ignored.
        presence_frame(
            engine,
            &sealer,
            Some(1),
            &editor.device.key,
            &editor_address,
            "doc: Old epoch",
        )
        .unwrap(),
        // The removed member's device, under the current key (had it leaked): ignored.
        presence_frame(
            engine,
            &sealer,
            None,
            &carol.device.key,
            &cw.address().to_checksum(),
            "doc: Removed",
        )
        .unwrap(),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let room_url = weft::sync::room::room_url(&url, &room).unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(room_url).await.unwrap();
        for f in frames {
            ws.send(tokio_tungstenite::tungstenite::Message::Binary(f.into()))
                .await
                .unwrap();
        }
        ws.close(None).await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.status().presence_ignored < 3 {
        assert!(
            Instant::now() < deadline,
            "the presence frames were not all judged: {:?}",
            a.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let peers = a.peers();
    assert_eq!(
        peers.len(),
        1,
        "only the editor is here: {peers:?}; {:?}",
        a.status()
    );
    assert_eq!(peers[0].address, editor_address);
    assert_eq!(
        peers[0].view, "doc: Honest",
        "the old epoch's presence did not move the editor"
    );
    let why = a.status().last_presence_ignored.unwrap_or_default();
    assert!(why.contains("not a member"), "the reason names it: {why}");
    let _ = stop.send(());
    relay_thread.join().unwrap();
}

/// A member who read a writer's log from the bucket with one object lost (its later changes
/// wait behind the hole) gets the missing change from whoever in the room holds it, even with the
/// writer gone for good: the envelopes are signed by their author, so any member can pass them on.
#[test]
fn a_hole_in_a_writer_s_log_is_filled_from_another_member_in_the_room() {
    let (url, relay_thread, stop) = relay();
    let (ow, ew, cw) = (
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
    );
    let mut owner = found(&ow);
    owner.r().workspace().create_doc("Trace", None).unwrap();
    owner.r().flush().unwrap();
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    owner.r().add_member(cw.address(), Role::Editor).unwrap();
    let mut editor = join(&owner, &ew);
    let mut carol = join(&owner, &cw);
    for dev in [&mut editor, &mut carol] {
        carry(&mut owner, dev);
        dev.r().publish_device().unwrap();
        settle(dev, &mut owner);
    }
    settle(&mut editor, &mut carol);
    let before = owner
        .r()
        .inputs(weft::store::SharedTable::Envelopes, 0)
        .unwrap()
        .len();
    // The owner writes five changes, one envelope each.
    let doc = doc_id(owner.r(), "Trace");
    for word in ["one ", "two ", "three ", "four ", "five"] {
        owner.r().workspace().append_body(doc, word).unwrap();
        owner.r().flush().unwrap();
    }
    let written = owner
        .r()
        .inputs(weft::store::SharedTable::Envelopes, 0)
        .unwrap();
    assert_eq!(written.len(), before + 5);
    // Carol has all of it; the editor got all but the second (lost from the bucket).
    carry(&mut owner, &mut carol);
    for (i, (_, env)) in written.iter().enumerate() {
        if i != before + 1 {
            editor.r().receive_envelope("bucket", env).unwrap();
        }
    }
    assert_eq!(
        text(&mut editor),
        "one ",
        "the later changes wait behind the hole"
    );
    assert!(editor.r().engine().unwrap().waiting_count() > 0);
    // The owner is gone for good; the editor and carol meet in the room.
    drop(owner);
    let (c, e) = (live(&carol, &url), live(&editor, &url));
    wait_online(&c);
    wait_online(&e);
    wait_text(&mut editor, "one two three four five");
    assert_eq!(editor.r().engine().unwrap().waiting_count(), 0);
    drop((c, e));
    let _ = stop.send(());
    relay_thread.join().unwrap();
}
