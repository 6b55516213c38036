//! `weft sync`, `weft invite`, `weft join`: sharing a workspace through a bucket.

use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::Context;
use crate::acl::{ReplicaConfig, Role};
use crate::crypto::WorkspaceId;
use crate::identity::Address;
use crate::model::Carrier;
use crate::store::{check_workspace_name, Replica};
use crate::sync::moves::{
    approved_bucket, unapproved_move, unapproved_move_notice, APPROVED_BUCKET,
};
use crate::sync::share::{BucketSync, JoinCode, Phase, Progress, Report};

/// Where the workspace's bucket is: this device's own override (`weft sync --bucket`), else the
/// workspace's setting (made by an admin, the same for every member), else the one in the join
/// code, else a folder in the data dir (shared by the workspaces of this home, each under its id).
pub fn bucket_url(ctx: &Context, replica: &Replica) -> anyhow::Result<String> {
    bucket_url_or(replica, &default_bucket(ctx))
}

/// [`bucket_url`] with `default` for the embedded folder.
pub fn bucket_url_or(replica: &Replica, default: &str) -> anyhow::Result<String> {
    Ok(carrier_url(replica, Carrier::Bucket)?.map_or_else(|| default.to_string(), |(u, _)| u))
}

/// The workspace's relay, found like [`bucket_url`]; `None` without one.
pub fn relay_url(replica: &Replica) -> anyhow::Result<Option<String>> {
    Ok(carrier_url(replica, Carrier::Relay)?.map(|(u, _)| u))
}

/// A carrier's URL and where it comes from.
fn carrier_url(
    replica: &Replica,
    which: Carrier,
) -> anyhow::Result<Option<(String, &'static str)>> {
    let (own, code) = match which {
        Carrier::Bucket => ("bucket.url", "bucket.url.code"),
        Carrier::Relay => ("relay.url", "relay.url.code"),
    };
    if let Some(url) = replica.sync_value(own)?.filter(|u| !u.is_empty()) {
        return Ok(Some((url, "this device only")));
    }
    if let Some(url) = replica.workspace().carrier(which) {
        if which == Carrier::Bucket {
            return Ok(Some(approved_bucket(replica, url)?));
        }
        return Ok(Some((url, "workspace setting")));
    }
    Ok(replica
        .sync_value(code)?
        .filter(|u| !u.is_empty())
        .map(|u| (u, "from the join code")))
}

/// The embedded default bucket: a folder under the data dir.
pub fn default_bucket(ctx: &Context) -> String {
    format!("file://{}", ctx.home.data.join("bucket").display())
}

fn workspace_id(replica: &Replica) -> anyhow::Result<WorkspaceId> {
    replica.engine().map(|e| e.workspace_id()).ok_or_else(|| {
        anyhow::anyhow!(
            "this workspace is not shared (it was made by an older weft); it cannot sync"
        )
    })
}

fn summary(r: &Report) -> String {
    let mut parts = vec![format!("{} up, {} down", r.uploaded, r.downloaded)];
    if r.received > 0 {
        parts.push(format!("{} new", r.received));
    }
    if r.refused > 0 {
        parts.push(format!("{} refused (weft quarantine ls)", r.refused));
    }
    if r.pending > 0 {
        parts.push(format!("{} waiting", r.pending));
    }
    if r.from_snapshot {
        parts.push("started from a snapshot".into());
    }
    if r.snapshot_written {
        parts.push("wrote a snapshot".into());
    }
    if r.repaired > 0 {
        parts.push(format!("{} repaired", r.repaired));
    }
    parts.join(", ")
}

/// The lost or damaged objects a round found or saw repaired, one line each; then, on a run that
/// is not watching, those still waiting for a repair (what `weft doctor` lists too).
fn problem_lines(r: &Report, still: &[crate::sync::share::Problem]) -> Vec<String> {
    let mut lines: Vec<String> = r.problems.iter().map(|p| format!("  {p}")).collect();
    for p in still {
        if p.repair == crate::sync::share::Repair::Waiting
            && !r.problems.iter().any(|q| q.key == p.key)
        {
            lines.push(format!("  still: {p}"));
        }
    }
    lines
}

/// On a terminal, long transfers show how far along they are on stderr (one line, rewritten).
fn with_progress(ctx: &Context, sync: BucketSync) -> BucketSync {
    use std::io::{IsTerminal, Write};
    if ctx.json || !std::io::stderr().is_terminal() {
        return sync;
    }
    sync.with_progress(Box::new(|p: Progress| {
        if p.total < 2 {
            return;
        }
        let what = match p.phase {
            Phase::Upload => "uploading this device's log",
            Phase::Logs => "reading teammates' logs",
        };
        let mut err = std::io::stderr().lock();
        let _ = if p.done == p.total {
            write!(err, "\r\x1b[K")
        } else {
            write!(
                err,
                "\r\x1b[K{what}: {}/{} objects, {} of {}",
                p.done,
                p.total,
                crate::model::human_size(p.bytes),
                crate::model::human_size(p.total_bytes)
            )
        };
        let _ = err.flush();
    }))
}

/// `weft sync`: one round, or rounds every `interval` until interrupted.
pub fn sync(
    ctx: &Context,
    bucket: Option<String>,
    relay: Option<String>,
    accept_move: bool,
    watch: bool,
    interval: Duration,
    lan: Option<bool>,
) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    if let Some(url) = bucket {
        crate::sync::bucket::Bucket::open(&url).context("the bucket URL is not usable")?;
        replica.set_sync_value("bucket.url", &url)?;
    }
    let mut told = None;
    let mut check_move = |replica: &Replica| -> anyhow::Result<()> {
        let Some(moved_to) = unapproved_move(replica)? else {
            return Ok(());
        };
        if accept_move {
            crate::sync::bucket::Bucket::open(&moved_to).with_context(|| {
                format!("the bucket the workspace moved to ({moved_to}) is not usable")
            })?;
            replica.set_sync_value(APPROVED_BUCKET, &moved_to)?;
            println!("following the workspace to {moved_to}, as you agreed");
        } else if told.as_deref() != Some(moved_to.as_str()) {
            eprintln!("{}", unapproved_move_notice(&moved_to));
            told = Some(moved_to);
        }
        Ok(())
    };
    check_move(&replica)?;
    if let Some(url) = relay {
        crate::sync::room::room_url(&url, &[0; 32]).context("the relay URL is not usable")?;
        replica.set_sync_value("relay.url", &url)?;
    }
    // With --watch, changes also travel live (on their own thread): through the relay if
    // there is one, and directly with teammates on the LAN unless that is turned off.
    let _live = if watch {
        let name = ctx.workspace_name()?;
        ctx.live_starter(&name, &replica, ctx.lan_enabled(lan))?
            .map(|start| start(Box::new(|| {})))
    } else {
        None
    };
    let open = |replica: &Replica| -> anyhow::Result<(String, BucketSync)> {
        let url = bucket_url(ctx, replica)?;
        let bucket = crate::sync::bucket::Bucket::open(&url)
            .with_context(|| format!("opening the bucket {url}"))?;
        let sync = BucketSync::for_replica(bucket, replica)?;
        Ok((url.clone(), with_progress(ctx, sync)))
    };
    let (mut url, mut sync) = open(&replica)?;
    // With --watch, say when the live link comes up, moves to another relay or drops, and
    // who is linked directly on the LAN (and why a link was refused).
    let mut live_said: Option<String> = None;
    let mut lan_said: Option<String> = None;
    let mut refusal_said: Option<String> = None;
    let mut say_live = || {
        let Some(live) = &_live else { return };
        if ctx.json {
            return;
        }
        let s = live.status();
        let now = match (&s.relay, &s.offline, &s.stopped) {
            (_, _, Some(why)) => Some(format!("live: stopped: {why}")),
            (Some(relay), _, _) => Some(format!("live: on {relay}")),
            (None, Some(why), _) => Some(format!("live: offline: {why}")),
            (None, None, None) => None,
        };
        if let Some(now) = now {
            if live_said.as_deref() != Some(now.as_str()) {
                println!("{now}");
                live_said = Some(now);
            }
        }
        let Some(lan) = &s.lan else { return };
        let now = match (&lan.discovery_off, lan.linked.len()) {
            (Some(why), 0) => format!("lan: discovery off ({why}); listening on port {}", lan.port),
            (_, 0) => format!("lan: no teammate linked (listening on port {})", lan.port),
            (_, n) => format!(
                "lan: linked directly with {n} device(s): {}",
                lan.linked
                    .iter()
                    .map(|d| {
                        let d = d.to_string();
                        let tail = d.len().saturating_sub(6);
                        format!("…{}", &d[tail..])
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if lan_said.as_deref() != Some(now.as_str()) {
            println!("{now}");
            lan_said = Some(now);
        }
        if let Some(last) = lan.refusals.last() {
            if refusal_said.as_deref() != Some(last.as_str()) {
                println!("lan: {last}");
                refusal_said = Some(last.clone());
            }
        }
    };
    loop {
        say_live();
        // An admin may move the workspace to another bucket: follow it (after asking, when it
        // is at another endpoint).
        check_move(&replica)?;
        let now = bucket_url(ctx, &replica)?;
        if now != url {
            (url, sync) = open(&replica)?;
            println!("the workspace moved to {}", sync.bucket().label());
        }
        match sync.round(&mut replica) {
            Ok(report) => {
                if ctx.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else if !watch || report != Report::default() {
                    println!(
                        "synced with {}: {}",
                        sync.bucket().label(),
                        summary(&report)
                    );
                    let still = if watch {
                        Vec::new()
                    } else {
                        crate::sync::share::open_problems(&replica)?
                    };
                    for line in problem_lines(&report, &still) {
                        println!("{line}");
                    }
                }
            }
            Err(e) if watch => eprintln!("sync: {e} (retrying)"),
            Err(e) => return Err(e).context("sync did not finish; nothing was lost, run it again"),
        }
        if !watch {
            // What arrived may have moved the workspace: one more round, there.
            check_move(&replica)?;
            if bucket_url(ctx, &replica)? == url {
                return Ok(());
            }
            continue;
        }
        let until = std::time::Instant::now() + interval;
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(left.min(Duration::from_millis(250)));
            say_live();
        }
    }
}

/// `weft settings [bucket URL | relay URL]`: show the carriers, or (admins) change one for
/// every member.
pub fn settings(ctx: &Context, set: Option<super::SettingsCmd>) -> anyhow::Result<()> {
    use super::SettingsCmd;
    let mut replica = ctx.open()?;
    workspace_id(&replica)?;
    let Some(set) = set else {
        #[derive(Serialize)]
        struct Setting {
            url: Option<String>,
            from: &'static str,
        }
        let show = |which| -> anyhow::Result<Setting> {
            Ok(match carrier_url(&replica, which)? {
                Some((url, from)) => Setting {
                    url: Some(url),
                    from,
                },
                None if which == Carrier::Bucket => Setting {
                    url: Some(default_bucket(ctx)),
                    from: "this home's default folder",
                },
                None => Setting {
                    url: None,
                    from: "none: changes travel through the bucket only",
                },
            })
        };
        #[derive(Serialize)]
        struct Out {
            bucket: Setting,
            relay: Setting,
        }
        let out = Out {
            bucket: show(Carrier::Bucket)?,
            relay: show(Carrier::Relay)?,
        };
        return ctx.print(&out, || {
            let line = |name: &str, s: &Setting| {
                format!("{name:<7} {} ({})", s.url.as_deref().unwrap_or("-"), s.from)
            };
            format!(
                "{}\n{}",
                line("bucket", &out.bucket),
                line("relay", &out.relay)
            )
        });
    };
    replica
        .can(&crate::acl::Action::EditSettings)
        .map_err(|why| {
            anyhow::anyhow!("only an admin or the owner changes the workspace's settings: {why}")
        })?;
    match set {
        SettingsCmd::Relay { url } => {
            let url = (url != "none").then_some(url);
            if let Some(url) = &url {
                crate::sync::room::room_url(url, &[0; 32])
                    .context("the relay URL is not usable")?;
            }
            replica
                .workspace()
                .set_carrier(Carrier::Relay, url.as_deref())?;
            replica.flush()?;
            replica.remove_sync_value("relay.url")?;
            let old = bucket_url(ctx, &replica)?;
            BucketSync::for_replica(crate::sync::bucket::Bucket::open(&old)?, &replica)?
                .round(&mut replica)
                .context(
                    "the setting is made here but could not reach the bucket; run `weft sync`",
                )?;
            ctx.print(&url, || match &url {
                Some(u) => format!("members' devices now carry changes live through {u}"),
                None => "members' devices now sync through the bucket only".into(),
            })
        }
        SettingsCmd::Bucket { url } => {
            let new =
                crate::sync::bucket::Bucket::open(&url).context("the bucket URL is not usable")?;
            // Reachable before anyone is sent there.
            let sync = BucketSync::for_replica(new, &replica)?;
            sync.probe().with_context(|| {
                format!("the new bucket {url} cannot be reached; nothing was changed")
            })?;
            // The old bucket carries the news to every member; then this device copies what it
            // holds to the new one, with a snapshot so newcomers and stragglers find everything.
            let old = bucket_url(ctx, &replica)?;
            replica
                .workspace()
                .set_carrier(Carrier::Bucket, Some(&url))?;
            replica.flush()?;
            replica.remove_sync_value("bucket.url")?;
            // The admin typed it: this device follows without asking.
            replica.set_sync_value(APPROVED_BUCKET, &url)?;
            BucketSync::for_replica(crate::sync::bucket::Bucket::open(&old)?, &replica)?
                .round(&mut replica)
                .with_context(|| format!("the old bucket {old} could not be reached; the setting is made here, run `weft sync` to carry it"))?;
            let mut report = sync
                .round(&mut replica)
                .with_context(|| format!("the new bucket {url} could not be reached"))?;
            sync.publish_snapshot(&mut replica, &mut report)?;
            ctx.print(&url, || {
                format!(
                    "the workspace now lives in {url}: this device copied what it holds there ({} objects); members' devices follow at their next sync",
                    report.uploaded
                )
            })
        }
    }
}

/// `weft snapshot`: publish the whole workspace as one snapshot for new devices to start from.
pub fn snapshot(ctx: &Context) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    workspace_id(&replica)?;
    if replica.my_role() < Some(Role::Admin) {
        bail!(
            "only an admin or the owner writes snapshots (you are {}); new devices still join by reading every change",
            replica.my_role().map_or("not a member".into(), |r| r.with_article().to_string())
        );
    }
    let url = bucket_url(ctx, &replica)?;
    let sync = BucketSync::for_replica(
        crate::sync::bucket::Bucket::open(&url)
            .with_context(|| format!("opening the bucket {url}"))?,
        &replica,
    )?;
    let mut report = sync
        .round(&mut replica)
        .context("the bucket could not be reached; nothing was written")?;
    let key = if report.snapshot_written {
        None
    } else {
        Some(sync.publish_snapshot(&mut replica, &mut report)?)
    };
    #[derive(Serialize)]
    struct Out<'a> {
        bucket: &'a str,
        key: Option<String>,
        uploaded: usize,
    }
    ctx.print(
        &Out {
            bucket: sync.bucket().label(),
            key: key.clone(),
            uploaded: report.uploaded,
        },
        || {
            format!(
                "wrote a snapshot of the workspace to {}; new devices start from it",
                sync.bucket().label()
            )
        },
    )
}

/// `weft invite ADDRESS --role R`: grant the role and print the code the invitee joins with.
pub fn invite(ctx: &Context, address: &str, role: &str) -> anyhow::Result<()> {
    let address: Address = address
        .trim()
        .parse()
        .with_context(|| format!("{address:?} is not a wallet address"))?;
    let role: Role = role.parse().map_err(|_| {
        anyhow::anyhow!(
            "{role:?} is not a role; roles are {}",
            Role::ALL.map(|r| r.as_str()).join(", ")
        )
    })?;
    let mut replica = ctx.open()?;
    let id = workspace_id(&replica)?;
    // A new member gets an invite, whose secret (in the code) opens the keys at once; an
    // existing member's new device gets the keys from a member device once that one syncs.
    let secret = match replica.members().and_then(|m| m.role(&address)) {
        Some(r) if r == role => None,
        Some(_) => {
            replica.change_role(address, role)?;
            None
        }
        None => Some(replica.invite(address, role)?),
    };
    let url = bucket_url(ctx, &replica)?;
    let sync = BucketSync::for_replica(crate::sync::bucket::Bucket::open(&url)?, &replica)?;
    sync.round(&mut replica)
        .context("the invite is recorded here but could not reach the bucket; run `weft sync` before sharing the code")?;
    let code = JoinCode {
        name: ctx.workspace_name()?,
        workspace: id.to_string(),
        bucket: url,
        relay: relay_url(&replica)?,
        carrier: crate::sync::share::carrier_key(&replica)?.to_hex(),
        secret: secret.map(|s| hex::encode(s.as_bytes())),
    };
    let text = code.encode();
    #[derive(Serialize)]
    struct Out<'a> {
        address: String,
        role: &'a str,
        code: &'a str,
    }
    ctx.print(
        &Out {
            address: address.to_checksum(),
            role: role.as_str(),
            code: &text,
        },
        || {
            format!(
                "{} is now {} here. Send them this code; they run `weft join CODE`:\n\n{text}\n",
                address.to_checksum(),
                role.with_article()
            )
        },
    )
}

/// `weft join CODE`: make this device's copy of a shared workspace from the bucket alone.
pub fn join(ctx: &Context, code: &str, name: Option<String>) -> anyhow::Result<()> {
    let code = JoinCode::decode(code).map_err(anyhow::Error::msg)?;
    let name = name.unwrap_or_else(|| code.name.clone());
    check_workspace_name(&name)?;
    let path = ctx.home.workspace_db(&name);
    if path.exists() {
        bail!(
            "a workspace named {name:?} already exists here; join under another name with --name"
        );
    }
    let mut ids = ctx.identity()?;
    super::identity::ensure_paired(&mut ids)?;
    let Some(me) = ids.signing_identity(None, time::OffsetDateTime::now_utc())? else {
        bail!(
            "this device's pairing does not cover shared workspaces; pair again with `weft pair`"
        );
    };
    let my_address = me.address();
    let id: WorkspaceId = code
        .workspace
        .parse()
        .map_err(|_| anyhow::anyhow!("the join code names no valid workspace id"))?;
    let carrier = crate::sync::seal::CarrierKey::from_hex(&code.carrier)
        .ok_or_else(|| anyhow::anyhow!("the join code carries no valid key"))?;
    let secret = match &code.secret {
        Some(s) => Some(
            hex::decode(s)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(crate::crypto::InviteSecret::from_bytes)
                .ok_or_else(|| {
                    anyhow::anyhow!("the join code's secret is damaged; copy it again")
                })?,
        ),
        None => None,
    };
    let sync = BucketSync::open(&code.bucket, id, carrier.clone())
        .with_context(|| format!("opening the bucket {}", code.bucket))?;
    let sync = with_progress(ctx, sync);
    let genesis = sync.fetch_genesis()?;
    let key = ctx.secret()?.db_key();
    let mut replica =
        Replica::join_shared(&path, Some(&key), &genesis, me, ReplicaConfig::default())?;
    // Until the workspace's own settings arrive (they win), the code says where it lives.
    replica.set_sync_value("bucket.url.code", &code.bucket)?;
    replica.set_sync_value("carrier.key", &carrier.to_hex())?;
    if let Some(relay) = &code.relay {
        replica.set_sync_value("relay.url.code", relay)?;
    }
    // The membership first, then the invite's keys, then the changes: they are read as they
    // arrive instead of all waiting for a key.
    let first = sync.fetch_membership(&mut replica)?;
    let Some(role) = replica.my_role() else {
        bail!(
            "you ({}) are not a member of this workspace yet: ask the inviter to run `weft invite {}`, then `weft -w {name} sync`",
            my_address.to_checksum(),
            my_address.to_checksum()
        );
    };
    if let Some(secret) = &secret {
        if !replica.redeem_invite(secret)? {
            eprintln!("note: the invite has not reached the bucket yet; the keys arrive with the next `weft sync`");
        }
    }
    let main = sync.round(&mut replica)?;
    let me_device = replica.engine().map(|e| e.identity().device());
    let published = me_device.is_some_and(|d| {
        replica
            .members()
            .is_some_and(|m| m.devices.contains_key(&d))
    });
    if !published {
        replica.publish_device()?;
    }
    let second = sync.round(&mut replica)?;
    if ctx.config.default_workspace.is_none() {
        super::context::set_default_workspace(ctx, &name)?;
    }
    let ws = replica.workspace();
    #[derive(Serialize)]
    struct Out<'a> {
        name: &'a str,
        role: &'a str,
        docs: usize,
        boards: usize,
        received: usize,
        from_snapshot: bool,
    }
    let out = Out {
        name: &name,
        role: role.as_str(),
        docs: ws.docs(false).len(),
        boards: ws.boards(false).len(),
        received: first.received + main.received + second.received,
        from_snapshot: main.from_snapshot,
    };
    ctx.print(&out, || {
        format!(
            "joined {:?} as {}: {} docs, {} boards{}. Open it with `weft -w {name}`.",
            ws.name(),
            role.with_article(),
            out.docs,
            out.boards,
            if out.from_snapshot {
                " (started from an admin's snapshot)"
            } else {
                ""
            }
        )
    })
}
