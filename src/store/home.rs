//! Where weft keeps things: XDG/platform directories via `directories`, or all under `WEFT_HOME`.

use std::path::{Path, PathBuf};

use super::StoreError;

/// The directories of one weft home.
#[derive(Debug, Clone)]
pub struct Home {
    /// Workspaces (databases) and keys.
    pub data: PathBuf,
    /// config.toml, keymap, user themes.
    pub config: PathBuf,
    /// Logs and other state that may be deleted.
    pub state: PathBuf,
}

impl Home {
    /// `WEFT_HOME` if set (everything under it), else the platform's directories.
    pub fn from_env() -> Result<Self, StoreError> {
        if let Some(root) = std::env::var_os("WEFT_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self::at(Path::new(&root)));
        }
        let dirs = directories::ProjectDirs::from("", "", "weft").ok_or_else(|| {
            StoreError::Home(
                "no home directory found; set WEFT_HOME to a folder weft may use".into(),
            )
        })?;
        Ok(Home {
            data: dirs.data_dir().to_path_buf(),
            config: dirs.config_dir().to_path_buf(),
            state: dirs
                .state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_path_buf(),
        })
    }

    /// A home rooted at one folder (what `WEFT_HOME` does).
    pub fn at(root: &Path) -> Self {
        Home {
            data: root.join("data"),
            config: root.join("config"),
            state: root.join("state"),
        }
    }

    pub fn workspaces_dir(&self) -> PathBuf {
        self.data.join("workspaces")
    }

    /// The database of workspace `name`.
    pub fn workspace_db(&self, name: &str) -> PathBuf {
        self.workspaces_dir().join(name).join("weft.db")
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// Names of the workspaces in this home, sorted.
    pub fn workspaces(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.workspaces_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("weft.db").is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// A workspace name is also a folder name: letters, digits, `-` and `_`, at most 64.
pub fn check_workspace_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}
