//! Pairing this device with a wallet from inside the app, for a person on SSH whose wallet is
//! elsewhere: type the address, copy the message (OSC 52, `y`) to wherever the wallet is, sign it
//! there, paste the signature back (bracketed paste). The overlay shows the recovered wallet, or says
//! in words why the signature was refused (expired, wrong address, not a signature of this text…).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::App;
use super::msg::Effect;
use super::overlay::Overlay;
use super::sanitize;
use super::theme::Slot;
use super::widgets::{centered, fit, popup, put_line, LineInput};
use crate::identity::Address;
use crate::store::identity::IdentityStore;

/// What the pairing overlay needs from the identity files of the home.
pub trait Pairer: Send {
    /// The message `address` must sign (the pending one, or a new one).
    fn message_for(&mut self, address: &Address) -> Result<String, String>;
    /// Check `signature` against the pending message and keep the certificate. Returns what a person
    /// should read on success.
    fn complete(&mut self, address: &Address, signature: &str) -> Result<String, String>;
}

impl Pairer for IdentityStore {
    fn message_for(&mut self, address: &Address) -> Result<String, String> {
        self.pending_message(*address, time::OffsetDateTime::now_utc())
            .map_err(|e| e.to_string())
    }

    fn complete(&mut self, address: &Address, signature: &str) -> Result<String, String> {
        let v = self
            .complete_pairing(*address, signature, time::OffsetDateTime::now_utc())
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "Paired: wallet {} now speaks for this device.",
            v.address
        ))
    }
}

/// Where the pairing stands.
#[derive(Debug)]
pub enum PairingStep {
    /// Asking which wallet will sign.
    Address(LineInput),
    /// Waiting for the signature of `message`.
    Sign {
        address: Address,
        message: String,
        /// The last pasted signature's outcome.
        outcome: Option<Result<String, String>>,
    },
}

/// The pairing overlay.
#[derive(Debug)]
pub struct Pairing {
    pub step: PairingStep,
    pub error: Option<String>,
}

impl Default for Pairing {
    fn default() -> Self {
        Pairing {
            step: PairingStep::Address(LineInput::new("")),
            error: None,
        }
    }
}

impl App {
    /// Keys while pairing. Returns effects (a copy to the clipboard).
    pub(crate) fn pairing_key(&mut self, mut p: Box<Pairing>, key: KeyEvent) -> Vec<Effect> {
        let mut effects = Vec::new();
        if key.code == KeyCode::Esc {
            return effects;
        }
        match &mut p.step {
            PairingStep::Address(input) => {
                if key.code == KeyCode::Enter {
                    let text = input.value().trim().to_string();
                    match text.parse::<Address>() {
                        Err(e) => p.error = Some(format!("not a wallet address: {e}")),
                        Ok(address) => match self.pairer.as_mut() {
                            None => p.error = Some("pairing is not available here".into()),
                            Some(pairer) => match pairer.message_for(&address) {
                                Ok(message) => {
                                    p.error = None;
                                    effects.push(Effect::Copy(message.clone()));
                                    p.step = PairingStep::Sign {
                                        address,
                                        message,
                                        outcome: None,
                                    };
                                }
                                Err(e) => p.error = Some(e),
                            },
                        },
                    }
                } else if input.key(&key) {
                    p.error = None;
                }
            }
            PairingStep::Sign {
                message, outcome, ..
            } => {
                if let KeyCode::Char('y') = key.code {
                    effects.push(Effect::Copy(message.clone()));
                }
                if matches!(outcome, Some(Ok(_))) && key.code == KeyCode::Enter {
                    return effects;
                }
            }
        }
        self.overlays.push(Overlay::Pairing(p));
        effects
    }

    /// A pasted signature (or address) while pairing.
    pub(crate) fn pairing_paste(&mut self, text: &str) {
        let Some(Overlay::Pairing(p)) = self.overlays.last_mut() else {
            return;
        };
        let mut paired = None;
        match &mut p.step {
            PairingStep::Address(input) => {
                input.insert(text.trim());
            }
            PairingStep::Sign {
                address, outcome, ..
            } => {
                let result = match self.pairer.as_mut() {
                    Some(pairer) => pairer.complete(address, text),
                    None => Err("pairing is not available here".into()),
                };
                let mut result = result;
                if let Ok(done) = &mut result {
                    // From now on this device writes as the paired wallet.
                    self.replica
                        .workspace_mut()
                        .set_actor(&address.to_checksum());
                    self.opts.identity = super::short_identity(&address.to_checksum());
                    // Paired, but this wallet may have no role here: say so first, and what to do.
                    let outsider = self
                        .replica
                        .members()
                        .is_some_and(|m| m.role(address).is_none());
                    if outsider {
                        *done = format!(
                            "{}: not a member of {}: ask an admin for `weft invite` ({done})",
                            super::short_identity(&address.to_checksum()),
                            self.opts.workspace
                        );
                    }
                    paired = Some((done.clone(), outsider));
                }
                *outcome = Some(result);
            }
        }
        match paired {
            Some((done, true)) => self.error(done),
            Some((done, false)) => self.set_status(super::app::Status::info(done)),
            None => {}
        }
    }
}

/// Draw the pairing overlay.
pub fn render(app: &App, p: &Pairing, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    match &p.step {
        PairingStep::Address(input) => {
            let rect = centered(area, 70, 7);
            let inner = popup(rect, "Pair a wallet", theme, buf);
            if inner.height == 0 {
                return;
            }
            put_line(
                buf,
                inner,
                0,
                &Line::from(" Wallet address (0x…) that will sign:"),
            );
            super::overlay::render_input(
                inner,
                input,
                p.error.as_deref(),
                " enter: show the message to sign · esc: cancel",
                theme,
                buf,
            );
        }
        PairingStep::Sign {
            address,
            message,
            outcome,
        } => {
            let lines: Vec<&str> = message.lines().collect();
            let height = (lines.len() as u16 + 9).min(area.height);
            let rect = centered(area, 78, height);
            let inner = popup(rect, "Pair a wallet: sign this message", theme, buf);
            if inner.height == 0 {
                return;
            }
            let w = usize::from(inner.width.saturating_sub(2));
            put_line(
                buf,
                inner,
                0,
                &Line::from(Span::styled(
                    fit(
                        &format!(
                            " Sign with {address} (personal_sign), then paste the signature here."
                        ),
                        w,
                    ),
                    theme.fg(Slot::Muted),
                )),
            );
            for (i, l) in lines.iter().enumerate() {
                let row = i as u16 + 2;
                if row + 4 >= inner.height {
                    break;
                }
                put_line(
                    buf,
                    inner,
                    row,
                    &Line::from(format!(" {}", fit(&sanitize::line(l), w))),
                );
            }
            let (text, style) = match outcome {
                None => (
                    "Waiting for the signature · y: copy the message again (OSC 52) · esc: cancel"
                        .to_string(),
                    theme.fg(Slot::Muted),
                ),
                Some(Ok(done)) => (format!("✓ {done} (enter: close)"), theme.fg(Slot::Accent)),
                Some(Err(e)) => (
                    format!("✗ {} — paste another signature, or esc", sanitize::line(e)),
                    theme.error(),
                ),
            };
            // The outcome may be long (it names both addresses): wrap it over the last three rows.
            let wrapped = wrap(&text, w.max(1));
            let shown = wrapped.len().min(3) as u16;
            for (i, l) in wrapped.iter().take(3).enumerate() {
                let row = inner.height.saturating_sub(shown) + i as u16;
                put_line(
                    buf,
                    inner,
                    row,
                    &Line::from(Span::styled(format!(" {l}"), style)),
                );
            }
        }
    }
}

/// Break `text` into lines of at most `width` characters, at spaces where possible.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = if line.is_empty() { 0 } else { 1 } + word.chars().count();
        if line.chars().count() + needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let head: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            lines.push(head);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
