//! Sets `WEFT_VERSION` for `weft --version` and `weft doctor`: the package version and, when built
//! from a git checkout, the commit (`0.1.0 (1a2b3c4)`). Outside one (a crates.io tarball, a source
//! archive) it is the package version alone, unless `WEFT_GIT_COMMIT` names the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WEFT_GIT_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("WEFT_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit);
    match commit {
        Some(c) => println!("cargo:rustc-env=WEFT_VERSION={version} ({})", c.trim()),
        None => println!("cargo:rustc-env=WEFT_VERSION={version}"),
    }
}

/// The short commit of the checkout this package is in, watching the files that change with it.
fn git_commit() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    // Only a checkout whose top is this package: not a tarball unpacked inside another repository.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if !same_dir(Path::new(&top), &dir) {
        return None;
    }
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    // HEAD says which branch; the branch's ref (or packed-refs) moves with each commit. In a
    // worktree HEAD is in its own git dir and the refs in the common one.
    let git_dir = dir.join(git(&["rev-parse", "--git-dir"])?);
    let common = dir.join(git(&["rev-parse", "--git-common-dir"])?);
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Some(branch) = std::fs::read_to_string(&head)
        .ok()
        .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
    {
        let loose = common.join(&branch);
        if loose.exists() {
            println!("cargo:rerun-if-changed={}", loose.display());
        }
    }
    let packed = common.join("packed-refs");
    if packed.exists() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
    Some(commit)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
