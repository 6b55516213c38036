//! Pairing from inside the app, as over SSH: type the address, copy the message, paste the signature
//! the wallet made elsewhere. Real identity files, real EIP-191 signatures.

mod tui_support;

use crossterm::event::KeyCode;
use tui_support::{draw, key, screen, type_text, Sample};
use weft::identity::LocalWallet;
use weft::store::identity::IdentityStore;
use weft::store::Home;
use weft::tui::{Effect, Msg};

fn paired_app(home: &Home) -> (Sample, weft::tui::App) {
    let sample = Sample::new();
    let mut app = sample.app();
    app.set_pairer(Box::new(IdentityStore::open(home, None).expect("identity")));
    (sample, app)
}

#[test]
fn a_pasted_signature_pairs_the_device_and_a_wrong_one_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let (_sample, mut app) = paired_app(&home);
    let wallet = LocalWallet::generate();
    let other = LocalWallet::generate();

    app.update(tui_support::ch('P'));
    let t = draw(&mut app, 100, 30);
    assert!(screen(t.backend().buffer()).contains("Wallet address (0x…) that will sign"));

    // A malformed address is refused in words.
    type_text(&mut app, "0x1234");
    app.update(key(KeyCode::Enter));
    let t = draw(&mut app, 100, 30);
    assert!(screen(t.backend().buffer()).contains("not a wallet address"));

    // The real address: the message appears and goes to the clipboard (OSC 52).
    for _ in 0..6 {
        app.update(key(KeyCode::Backspace));
    }
    app.update(Msg::Paste(wallet.address().to_checksum()));
    let effects = app.update(key(KeyCode::Enter));
    let message = effects
        .iter()
        .find_map(|e| match e {
            Effect::Copy(m) => Some(m.clone()),
            _ => None,
        })
        .expect("the message is copied");
    assert!(message.contains(&wallet.address().to_checksum()));
    let t = draw(&mut app, 100, 30);
    let text = screen(t.backend().buffer());
    assert!(
        text.contains("weft wants you to sign in with your Ethereum account"),
        "{text}"
    );
    assert!(text.contains("Waiting for the signature"));

    // Someone else's signature: explained, nothing stored, still waiting.
    app.update(Msg::Paste(other.sign_message(message.as_bytes()).to_hex()));
    let t = draw(&mut app, 100, 30);
    let text = screen(t.backend().buffer());
    assert!(
        text.contains('✗') && text.contains(&other.address().to_checksum()[..6]),
        "{text}"
    );
    assert!(IdentityStore::open(&home, None)
        .unwrap()
        .certificates()
        .unwrap()
        .is_empty());

    // Garbage: explained.
    app.update(Msg::Paste("0xnot-a-signature".into()));
    let t = draw(&mut app, 100, 30);
    assert!(screen(t.backend().buffer()).contains("hex"));

    // The wallet's own signature pairs the device; the status bar shows the wallet.
    app.update(Msg::Paste(format!(
        "{}\n",
        wallet.sign_message(message.as_bytes()).to_hex()
    )));
    let t = draw(&mut app, 100, 30);
    let text = screen(t.backend().buffer());
    assert!(text.contains("Paired: wallet"), "{text}");
    let short = &wallet.address().to_checksum()[..6];
    assert!(text.contains(short));
    let certs = IdentityStore::open(&home, None)
        .unwrap()
        .certificates()
        .unwrap();
    assert_eq!(certs.len(), 1);
    // Enter closes the overlay.
    app.update(key(KeyCode::Enter));
    let t = draw(&mut app, 100, 30);
    assert!(!screen(t.backend().buffer()).contains("sign this message"));
}
