//! Attachments in the terminal UI: the `📎 name (size)` line under a doc's title and in a card's
//! detail, and saving one into the current folder. Saving fetches and decrypts on a thread of its
//! own (the UI never waits on the bucket); the result comes back through a channel the app reads on
//! its refresh tick and shows in the status bar.

use std::path::PathBuf;
use std::sync::mpsc;

use ratatui::text::{Line, Span};

use super::app::App;
use super::overlay::PromptAction;
use super::theme::{Slot, Theme};
use super::widgets::fit;
use crate::model::{human_size, AttachmentView, ItemId};
use crate::sync::blobs::Blobs;

/// How a finished save is reported: the attachment's name, then where it went or why not.
type Finished = (String, Result<(PathBuf, u64), String>);

/// Saves running in the background.
pub struct Downloads {
    blobs: Option<Blobs>,
    /// Where saved files go: the current folder unless set.
    folder: PathBuf,
    done_tx: mpsc::Sender<Finished>,
    done_rx: mpsc::Receiver<Finished>,
    running: usize,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads")
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl Default for Downloads {
    fn default() -> Self {
        let (done_tx, done_rx) = mpsc::channel();
        Downloads {
            blobs: None,
            folder: PathBuf::from("."),
            done_tx,
            done_rx,
            running: 0,
        }
    }
}

impl Downloads {
    /// How many saves are still running.
    pub fn running(&self) -> usize {
        self.running
    }
}

/// `📎 name (1.2 MB)` for each attachment, on one line cut to `width` columns.
pub fn attachment_line(atts: &[AttachmentView], width: usize, theme: &Theme) -> Line<'static> {
    let text = atts
        .iter()
        .map(|a| {
            format!(
                "📎 {} ({})",
                super::sanitize::line(&a.name),
                human_size(a.size)
            )
        })
        .collect::<Vec<_>>()
        .join("  ");
    let hint = "  (A saves)";
    let mut spans = vec![Span::styled(
        fit(&text, width.saturating_sub(hint.len())),
        theme.fg(Slot::Link),
    )];
    spans.push(Span::styled(hint, theme.fg(Slot::Muted)));
    Line::from(spans)
}

impl App {
    /// Let the app fetch attachment content (from the cache, else the bucket) with `blobs`.
    pub fn set_blobs(&mut self, blobs: Blobs) {
        self.downloads.blobs = Some(blobs);
    }

    /// Save attachments into `folder` instead of the current folder.
    pub fn set_save_folder(&mut self, folder: PathBuf) {
        self.downloads.folder = folder;
    }

    /// Saves still running in the background.
    pub fn downloads_running(&self) -> usize {
        self.downloads.running()
    }

    /// Ask which attachment of `item` to save (the first one offered).
    pub(crate) fn ask_save_attachment(&mut self, item: ItemId) {
        let atts = self.workspace().attachments(item);
        let Some(first) = atts.first() else {
            self.info("no files attached here (weft attach FILE --to ITEM adds one)");
            return;
        };
        let title = if atts.len() == 1 {
            "Save the attachment into the current folder".to_string()
        } else {
            format!(
                "Save which of the {} attachments into the current folder?",
                atts.len()
            )
        };
        let initial = first.name.clone();
        self.prompt(&title, &initial, PromptAction::SaveAttachment(item));
    }

    /// Start saving the attachment of `item` called `name` into the current folder, in the
    /// background. Errors (no such attachment, the file exists) keep the prompt open.
    pub(crate) fn start_save(&mut self, item: ItemId, name: &str) -> Result<(), String> {
        let Some(blobs) = self.downloads.blobs.clone() else {
            return Err("attachments cannot be fetched here (no bucket for this workspace)".into());
        };
        let atts = self.workspace().attachments(item);
        let wanted = name.trim();
        let att = atts
            .iter()
            .find(|a| a.name == wanted)
            .or_else(|| {
                atts.iter()
                    .find(|a| a.name.to_lowercase() == wanted.to_lowercase())
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no attachment called {:?} here (there are: {})",
                    super::sanitize::line(wanted),
                    atts.iter()
                        .map(|a| super::sanitize::line(&a.name).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let dest = self.downloads.folder.join(att.file_name());
        if std::fs::symlink_metadata(&dest).is_ok() {
            return Err(format!(
                "already exists: {} (weft does not replace it)",
                super::sanitize::line(&dest.display().to_string())
            ));
        }
        let tx = self.downloads.done_tx.clone();
        let name = att.name.clone();
        let spawned = std::thread::Builder::new()
            .name("weft-attachment".into())
            .spawn(move || {
                let result = blobs
                    .save_blocking(&att, &dest, false)
                    .map(|saved| {
                        let full = std::fs::canonicalize(&saved.path).unwrap_or(saved.path);
                        (full, saved.size)
                    })
                    .map_err(|e| e.to_string());
                let _ = tx.send((att.name.clone(), result));
            });
        match spawned {
            Ok(_) => {
                self.downloads.running += 1;
                self.info(format!("saving {}…", super::sanitize::line(&name)));
                Ok(())
            }
            Err(e) => Err(format!("cannot start saving: {e}")),
        }
    }

    /// Report saves that finished since the last look.
    pub(crate) fn poll_downloads(&mut self) {
        while let Ok((name, result)) = self.downloads.done_rx.try_recv() {
            self.downloads.running = self.downloads.running.saturating_sub(1);
            self.dirty = true;
            let name = super::sanitize::line(&name).into_owned();
            match result {
                Ok((path, size)) => self.info(format!(
                    "saved {name} ({}) to {}",
                    human_size(size),
                    super::sanitize::line(&path.display().to_string())
                )),
                Err(e) => self.error(super::sanitize::line(&e).into_owned()),
            }
        }
    }
}
