//! `weft member …` and `weft quarantine …`: who may do what in a shared workspace, and what was
//! refused and why.

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::{Context, MemberCmd, QuarantineCmd};
use crate::acl::{QuarantinedItem, Role};
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
            let out: Vec<MemberOut> = list
                .iter()
                .map(|m| MemberOut {
                    address: m.address.to_checksum(),
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
                        "{}  {}{}\n",
                        m.address,
                        m.role,
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
