//! Records the code identity (git commit, dirty flag, Cargo.lock hash) at build time, for
//! artifact manifests.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    for p in ["Cargo.lock", ".git/HEAD", ".git/index", "src", "crates"] {
        println!("cargo:rerun-if-changed={p}");
    }
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) => (!s.is_empty()).to_string(),
        None => String::new(),
    };
    let lock = std::fs::read("Cargo.lock").map(|b| blake3::hash(&b).to_hex().to_string()).unwrap_or_default();
    println!("cargo:rustc-env=RMD_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RMD_GIT_DIRTY={dirty}");
    println!("cargo:rustc-env=RMD_CARGO_LOCK_BLAKE3={lock}");
}
