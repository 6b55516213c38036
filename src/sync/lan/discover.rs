//! Announcing and finding teammates with mDNS (DNS-SD `_weft._tcp.local.`).
//!
//! The announcement carries an opaque instance name ([`super::token`]), a host name made of the
//! same random salt (not the machine's name), the link port and no TXT record. The name is made
//! again when the time window or the epoch key changes. Of two devices that recognise each
//! other, the one with the smaller salt dials, so a pair has one link.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use super::token::{self, SALT_LEN};
use super::{lock, Shared, SERVICE};

/// How often announcements are checked (window, key) and lost links dialed again.
const TICK: Duration = Duration::from_secs(1);
/// Least time between two attempts to link to one announcement.
const RETRY: Duration = Duration::from_secs(3);
/// Announcements kept (a network full of them costs no more than this).
const MAX_KNOWN: usize = 256;

/// Shuts the daemon down when discovery stops.
struct Daemon(ServiceDaemon);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

struct Known {
    addrs: Vec<SocketAddr>,
    tried: Option<Instant>,
}

fn off(shared: &Shared, why: String) {
    tracing::info!(%why, "LAN discovery is off");
    lock(&shared.status).discovery_off = Some(why);
}

/// Announce and browse until dropped. Never returns (when discovery cannot run, it says why in
/// the status and waits).
pub(crate) async fn run(shared: Arc<Shared>, port: u16, on: bool) {
    if !on {
        off(&shared, "discovery is not asked for".into());
        return std::future::pending().await;
    }
    // Nothing is announced while there is nobody to find: no current key, or no other device.
    let mut trust_changed = shared.trust_changed.subscribe();
    while !worth_announcing(&shared.trust()) {
        if trust_changed.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
    let daemon = match ServiceDaemon::new() {
        Ok(d) => Daemon(d),
        Err(e) => {
            off(&shared, format!("mDNS cannot start: {e}"));
            return std::future::pending().await;
        }
    };
    let browse = match daemon.0.browse(SERVICE) {
        Ok(b) => b,
        Err(e) => {
            off(&shared, format!("mDNS cannot browse: {e}"));
            return std::future::pending().await;
        }
    };
    let mut salt = [0u8; SALT_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let host = format!("{}.local.", hex::encode(salt));
    let mut announced: Option<(String, String)> = None; // (instance, fullname)
    let mut known: HashMap<[u8; SALT_LEN], Known> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let trust = shared.trust();
        let window = token::window_now();
        let want = trust
            .secret
            .as_ref()
            .filter(|_| worth_announcing(&trust))
            .map(|s| s.instance(&trust.workspace, &salt, window));
        if want.as_deref() != announced.as_ref().map(|(i, _)| i.as_str()) {
            if let Some((_, fullname)) = announced.take() {
                let _ = daemon.0.unregister(&fullname);
            }
            if let Some(instance) = want {
                let info = ServiceInfo::new(
                    SERVICE,
                    &instance,
                    &host,
                    (),
                    port,
                    None::<HashMap<String, String>>,
                )
                .map(ServiceInfo::enable_addr_auto);
                match info {
                    Ok(info) => {
                        let fullname = info.get_fullname().to_string();
                        match daemon.0.register(info) {
                            Ok(()) => announced = Some((instance, fullname)),
                            Err(e) => off(&shared, format!("mDNS cannot announce: {e}")),
                        }
                    }
                    Err(e) => off(&shared, format!("mDNS cannot announce: {e}")),
                }
            }
            // Names seen before may be this key's now (or no longer).
            known.clear();
        }
        tokio::select! {
            ev = browse.recv_async() => match ev {
                Ok(ServiceEvent::ServiceResolved(info)) => {
                    let Some(secret) = trust.secret.as_ref() else { continue };
                    let suffix = format!(".{SERVICE}");
                    let Some(instance) = info.get_fullname().strip_suffix(suffix.as_str()) else { continue };
                    let Some(theirs) = secret.recognise(&trust.workspace, instance, window) else {
                        continue;
                    };
                    if theirs == salt {
                        continue;
                    }
                    let mut addrs: Vec<SocketAddr> = info
                        .get_addresses()
                        .iter()
                        .map(|a| SocketAddr::new(a.to_ip_addr(), info.get_port()))
                        .filter(|a| !matches!(a.ip(), IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
                        .collect();
                    // Another machine first; this one's loopback last.
                    addrs.sort_by_key(|a| (a.ip().is_loopback(), a.is_ipv6(), *a));
                    addrs.truncate(8);
                    if known.len() >= MAX_KNOWN && !known.contains_key(&theirs) {
                        continue;
                    }
                    let entry = known.entry(theirs).or_insert(Known { addrs: Vec::new(), tried: None });
                    entry.addrs = addrs;
                    entry.tried = None;
                    consider(&shared, &salt, theirs, entry);
                }
                Ok(ServiceEvent::ServiceRemoved(_, fullname)) => {
                    if let Some((s, _)) = fullname.split('.').next().and_then(token::parse_instance) {
                        known.remove(&s);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    off(&shared, format!("mDNS stopped: {e}"));
                    return std::future::pending().await;
                }
            },
            _ = tick.tick() => {
                for (theirs, entry) in known.iter_mut() {
                    consider(&shared, &salt, *theirs, entry);
                }
            }
            r = trust_changed.changed() => {
                if r.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Whether there is someone to find: this device holds the current key, and the workspace has
/// another device that may link.
fn worth_announcing(trust: &super::Trust) -> bool {
    let me = trust.key.id();
    trust.secret.is_some() && trust.devices.iter().any(|d| *d != me)
}

/// Dial a recognised announcement if this side dials (smaller salt), it is not linked or being
/// dialed, and the last attempt is not too recent.
fn consider(shared: &Arc<Shared>, mine: &[u8; SALT_LEN], theirs: [u8; SALT_LEN], k: &mut Known) {
    if *mine >= theirs || k.addrs.is_empty() {
        return;
    }
    if k.tried.is_some_and(|t| t.elapsed() < RETRY) {
        return;
    }
    if !lock(&shared.salts_busy).insert(theirs) {
        return;
    }
    k.tried = Some(Instant::now());
    let addrs = k.addrs.clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        for addr in addrs {
            if super::dial(shared.clone(), addr).await {
                break;
            }
        }
        lock(&shared.salts_busy).remove(&theirs);
    });
}
