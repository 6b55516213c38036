//! `weft wallet`, `weft pair` and `weft devices`: this device's key, the local wallet, and pairing
//! the device with any EIP-191 wallet by a Sign-In-with-Ethereum signature.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{anyhow, bail, Context as _};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Context, PairArgs, WalletCmd};
use crate::identity::{Address, LocalWallet, VerifiedPairing};
use crate::store::identity::IdentityStore;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn read_stdin_all() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input")?;
    Ok(s)
}

pub fn wallet(ctx: &Context, cmd: WalletCmd) -> anyhow::Result<()> {
    let mut ids = ctx.identity()?;
    #[derive(Serialize)]
    struct Shown {
        address: String,
        device: String,
    }
    match cmd {
        WalletCmd::New => {
            let w = LocalWallet::generate();
            ids.set_local_wallet(&w)?;
            let out = Shown {
                address: w.address().to_checksum(),
                device: ids.device().id().to_string(),
            };
            ctx.print(&out, || format!("created local wallet {}", out.address))
        }
        WalletCmd::Import => {
            if std::io::stdin().is_terminal() {
                eprint!("Private key (hex, not echoed to history): ");
                let _ = std::io::stderr().flush();
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the private key from standard input")?;
            let w = LocalWallet::from_secret_hex(line.trim())
                .map_err(|e| anyhow!("not a private key: {e}"))?;
            ids.set_local_wallet(&w)?;
            let out = Shown {
                address: w.address().to_checksum(),
                device: ids.device().id().to_string(),
            };
            ctx.print(&out, || format!("imported local wallet {}", out.address))
        }
        WalletCmd::Show => {
            let w = ids.require_local_wallet()?;
            let out = Shown {
                address: w.address().to_checksum(),
                device: ids.device().id().to_string(),
            };
            ctx.print(&out, || format!("{}\ndevice {}", out.address, out.device))
        }
        WalletCmd::Sign { message, stdin } => {
            let w = ids.require_local_wallet()?;
            let text = match (message, stdin) {
                (_, true) => read_stdin_all()?,
                (Some(m), false) => m,
                (None, false) => bail!("give the message as an argument or with --stdin"),
            };
            let sig = w.sign_message(text.as_bytes()).to_hex();
            #[derive(Serialize)]
            struct Signed {
                address: String,
                signature: String,
            }
            let out = Signed {
                address: w.address().to_checksum(),
                signature: sig,
            };
            ctx.print(&out, || out.signature.clone())
        }
    }
}

#[derive(Serialize)]
struct Paired {
    address: String,
    device: String,
    expires_at: String,
}

fn paired(ctx: &Context, v: &VerifiedPairing) -> anyhow::Result<()> {
    let out = Paired {
        address: v.address.to_checksum(),
        device: v.device.to_string(),
        expires_at: v
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    };
    ctx.print(&out, || {
        format!(
            "paired: wallet {} now speaks for this device ({}) until {}",
            out.address, out.device, out.expires_at
        )
    })
}

pub fn pair(ctx: &Context, args: PairArgs) -> anyhow::Result<()> {
    let mut ids = ctx.identity()?;
    if args.local {
        let v = ids.pair_local(now())?;
        return paired(ctx, &v);
    }
    let address: Address = match &args.address {
        Some(a) => a
            .parse()
            .map_err(|e| anyhow!("{a:?} is not a wallet address: {e}"))?,
        None => bail!(
            "say which wallet signs: weft pair --address 0x… (or --local for weft's own wallet)"
        ),
    };
    if args.browser {
        let message = ids.pending_message(address, now())?;
        let signature = super::browser::collect_signature(ctx, &address, &message, args.port)?;
        let v = ids.complete_pairing(address, &signature, now())?;
        return paired(ctx, &v);
    }
    if let Some(sig) = &args.signature {
        let v = ids.complete_pairing(address, sig, now())?;
        return paired(ctx, &v);
    }
    let message = ids.pending_message(address, now())?;
    if args.print_message {
        // Exactly the text, for piping into a signer (`… | cast wallet sign`, a script…).
        print!("{message}");
        return Ok(());
    }
    println!("Sign this message with the wallet {address} (personal_sign / EIP-191):\n");
    println!("{message}\n");
    println!("Then give weft the signature: paste it below, or later run");
    println!("  weft pair --address {address} --signature 0x…");
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    eprint!("\nSignature: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the signature")?;
    if line.trim().is_empty() {
        println!("No signature given; the pairing stays pending until it expires.");
        return Ok(());
    }
    let v = ids.complete_pairing(address, &line, now())?;
    paired(ctx, &v)
}

pub fn devices(ctx: &Context) -> anyhow::Result<()> {
    let mut ids = ctx.identity()?;
    let all = ids.paired(now())?;
    let me = ids.device().id().to_string();
    ctx.print(&all, || {
        let mut s = format!("this device: {me}\n");
        if all.is_empty() {
            s.push_str("not paired with any wallet yet: `weft pair --local` or `weft pair --address 0x…`\n");
        }
        for p in &all {
            let kind = if p.local_wallet { " (local wallet)" } else { "" };
            let state = p.problem.as_deref().map(|e| format!("  [{e}]")).unwrap_or_default();
            s.push_str(&format!(
                "{}{kind}\n  device {}\n  paired {}  expires {}{state}\n",
                p.address, p.device, p.paired_at, p.expires_at
            ));
        }
        s
    })
}

/// Make sure the device is paired with someone: on first run, weft's own local wallet.
pub fn ensure_paired(ids: &mut IdentityStore) -> anyhow::Result<String> {
    if let Some(active) = ids.active(now())? {
        return Ok(active.address);
    }
    let v = ids.pair_local(now())?;
    Ok(v.address.to_checksum())
}
