//! `weft member …` and `weft quarantine …`: who may do what in a shared workspace, and what was
//! refused and why.

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::{Context, MemberCmd, ProfileCmd, QuarantineCmd};
use crate::acl::{Action, QuarantinedItem, Role};
use crate::identity::Address;
use crate::store::Replica;

fn shared(ctx: &Context) -> anyhow::Result<Replica> {
    let replica = ctx.open()?;
    if replica.engine().is_none() {
        bail!(
            "this workspace is not shared (it was made by an older weft); members apply only to shared workspaces"
        );
    }
    Ok(replica)
}

fn address(text: &str) -> anyhow::Result<Address> {
    text.trim()
        .parse()
        .with_context(|| format!("{text:?} is not a wallet address (0x followed by 40 hex digits)"))
}

fn role(text: &str) -> anyhow::Result<Role> {
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "{text:?} is not a role; roles are {}",
            Role::ALL.map(|r| r.as_str()).join(", ")
        )
    })
}

#[derive(Serialize)]
struct DeviceOut {
    device: String,
    paired_at: Option<String>,
    revoked: bool,
}

#[derive(Serialize)]
struct MemberOut {
    address: String,
    /// The display name they set, if any.
    name: Option<String>,
    role: String,
    you: bool,
    devices: Vec<DeviceOut>,
}

fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

pub fn member(ctx: &Context, cmd: MemberCmd) -> anyhow::Result<()> {
    let mut replica = shared(ctx)?;
    match cmd {
        MemberCmd::Ls => {
            let list = replica.member_list();
            let people = replica.workspace().people();
            let out: Vec<MemberOut> = list
                .iter()
                .map(|m| MemberOut {
                    address: m.address.to_checksum(),
                    name: people.name(&m.address.to_checksum()).map(str::to_string),
                    role: m.role.to_string(),
                    you: m.you,
                    devices: m
                        .devices
                        .iter()
                        .map(|d| DeviceOut {
                            device: d.device.clone(),
                            paired_at: d.paired_at.and_then(rfc3339),
                            revoked: d.revoked,
                        })
                        .collect(),
                })
                .collect();
            ctx.print(&out, || {
                let mut s = String::new();
                for m in &out {
                    s.push_str(&format!(
                        "{}  {}{}{}\n",
                        m.address,
                        m.role,
                        m.name
                            .as_deref()
                            .map(|_| format!("  {}", people.label(&m.address)))
                            .unwrap_or_default(),
                        if m.you { "  (you)" } else { "" }
                    ));
                    for d in &m.devices {
                        s.push_str(&format!(
                            "    device {}  paired {}{}\n",
                            d.device,
                            d.paired_at.as_deref().unwrap_or("?"),
                            if d.revoked { "  REVOKED" } else { "" }
                        ));
                    }
                }
                s
            })
        }
        MemberCmd::Add {
            address: a,
            role: r,
        } => {
            let (a, r) = (address(&a)?, role(&r)?);
            replica.add_member(a, r)?;
            ctx.print(
                &serde_json::json!({"added": a.to_checksum(), "role": r.as_str()}),
                || format!("added {} as {}", a.to_checksum(), r.with_article()),
            )
        }
        MemberCmd::Role {
            address: a,
            role: r,
        } => {
            let (a, r) = (address(&a)?, role(&r)?);
            replica.change_role(a, r)?;
            ctx.print(
                &serde_json::json!({"member": a.to_checksum(), "role": r.as_str()}),
                || format!("{} is now {}", a.to_checksum(), r.with_article()),
            )
        }
        MemberCmd::Rm { address: a } => {
            let a = address(&a)?;
            replica.remove_member(a)?;
            ctx.print(&serde_json::json!({"removed": a.to_checksum()}), || {
                format!(
                    "removed {}; their changes you have not seen will be refused by every member",
                    a.to_checksum()
                )
            })
        }
    }
}

/// `weft profile …`: one's own display name.
pub fn profile(ctx: &Context, cmd: ProfileCmd) -> anyhow::Result<()> {
    let mut replica = shared(ctx)?;
    let me = replica.workspace().actor().to_string();
    match cmd {
        ProfileCmd::Show => {
            let name = replica.workspace().display_name(&me);
            ctx.print(
                &serde_json::json!({"address": me, "name": name}),
                || match &name {
                    Some(n) => format!("{n}  {me}"),
                    None => format!(
                        "{me}  (no display name; set one with `weft profile name \"Your Name\"`)"
                    ),
                },
            )
        }
        ProfileCmd::Name { name, clear } => {
            let name = if clear { None } else { name };
            replica
                .can(&Action::SetOwnProfile)
                .map_err(|why| anyhow::anyhow!("not allowed: {why}; nothing was changed"))?;
            let set = replica
                .workspace()
                .set_display_name(name.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))?;
            replica.flush()?;
            ctx.print(
                &serde_json::json!({"address": me, "name": set}),
                || match &set {
                    Some(n) => format!("you are now {n:?} to your teammates ({me})"),
                    None => format!("display name removed; teammates see {me}"),
                },
            )
        }
    }
}

/// The members as `Ada 0x…` (or the address alone), one per line, for error messages.
fn member_lines(replica: &Replica) -> String {
    let people = replica.workspace().people();
    replica
        .member_list()
        .iter()
        .map(|m| {
            let a = m.address.to_checksum();
            match people.name(&a) {
                Some(_) => format!("  {} {a}", people.label(&a)),
                None => format!("  {a} (no display name)"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Turns what a person typed as an assignee into a member's address: an address of a member,
/// or a member's display name (any case; `@` in front allowed). Anything else is refused with
/// the list of members.
pub(super) fn resolve_assignee(replica: &Replica, text: &str) -> anyhow::Result<String> {
    let wanted = text.trim().trim_start_matches('@').trim();
    let members = replica.member_list();
    if let Ok(a) = wanted.parse::<Address>() {
        if members.iter().any(|m| m.address == a) {
            return Ok(a.to_checksum());
        }
        bail!(
            "{} is not a member of this workspace; assign one of the members:\n{}",
            a.to_checksum(),
            member_lines(replica)
        );
    }
    let people = replica.workspace().people();
    let folded = wanted
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let matches: Vec<String> = members
        .iter()
        .map(|m| m.address.to_checksum())
        .filter(|a| {
            let label = people.label(a).to_lowercase();
            people.name(a).map(str::to_lowercase).as_deref() == Some(folded.as_str())
                || (!folded.is_empty() && label == folded)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no member is called {wanted:?}; assign a member by display name or address:\n{}",
            member_lines(replica)
        ),
        several => bail!(
            "{} members are called {wanted:?}; give the address of the one you mean:\n{}",
            several.len(),
            several
                .iter()
                .map(|a| format!("  {} {a}", people.label(a)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// [`resolve_assignee`] for each, without repeats, in the order given.
pub(super) fn resolve_assignees(
    replica: &Replica,
    texts: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    if replica.engine().is_none() {
        // A workspace from before sharing has no members to pick from: text stays text.
        return Ok(texts.iter().map(|t| t.trim().to_string()).collect());
    }
    for t in texts {
        let a = resolve_assignee(replica, t)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct QuarantineOut {
    kind: &'static str,
    id: Option<String>,
    device: Option<String>,
    address: Option<String>,
    reason: String,
    may_be_released: bool,
    bytes: usize,
}

pub fn quarantine(ctx: &Context, cmd: QuarantineCmd) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    match cmd {
        QuarantineCmd::Ls => {
            let out: Vec<QuarantineOut> = replica
                .quarantine()
                .into_iter()
                .map(|e| {
                    let (kind, id) = match e.item {
                        QuarantinedItem::Envelope(id) => ("change", Some(id.to_string())),
                        QuarantinedItem::AclOp(id) => ("membership op", Some(id.to_string())),
                        QuarantinedItem::Unreadable => ("unreadable", None),
                    };
                    QuarantineOut {
                        kind,
                        id,
                        device: e.device.map(|d| d.to_string()),
                        address: e.address.map(|a| a.to_checksum()),
                        reason: e.reason.to_string(),
                        may_be_released: e.may_be_released,
                        bytes: e.bytes.len(),
                    }
                })
                .collect();
            ctx.print(&out, || {
                if out.is_empty() {
                    return "nothing in quarantine".into();
                }
                out.iter()
                    .map(|q| {
                        format!(
                            "{} from {}: {}{}\n",
                            q.kind,
                            q.address
                                .clone()
                                .or_else(|| q.device.clone())
                                .unwrap_or_else(|| "unknown".into()),
                            q.reason,
                            if q.may_be_released {
                                " (may be released by a later membership change)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect()
            })
        }
    }
}
