//! Running the stage binaries as separate processes: `--plan` queries and real runs.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What a `--plan` query said about an artifact.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// In the store with this key.
    Cached(String),
    /// Would be computed, with this key.
    Run(String),
    /// Would be computed after its inputs (its key depends on theirs).
    AfterInputs,
}

impl Planned {
    /// Whether the artifact is already in the store.
    pub fn is_cached(&self) -> bool {
        matches!(self, Planned::Cached(_))
    }
}

/// Runs stage binaries with the shared store, data and backend flags.
#[derive(Debug, Clone)]
pub struct StageRunner {
    /// Directory holding the stage binaries.
    pub bin_dir: PathBuf,
    /// The store.
    pub store: PathBuf,
    /// The raw-data directory.
    pub data_dir: PathBuf,
    /// Never download.
    pub no_download: bool,
    /// `--backend` for the training stages, when given.
    pub backend: Option<String>,
    /// Run the stages with `-q` (no progress or summaries on stderr; errors still shown).
    pub quiet: bool,
}

/// The stages that read raw data (take `--data-dir`).
fn reads_data(bin: &str) -> bool {
    matches!(bin, "rmd" | "rmd-noise" | "rmd-pretrain")
}

/// The stages that compute on a backend.
fn uses_backend(bin: &str) -> bool {
    matches!(bin, "rmd-pretrain" | "rmd-relations" | "rmd-distill")
}

impl StageRunner {
    /// The runner for binaries next to the current executable.
    pub fn beside_current_exe(
        store: &Path,
        data_dir: &Path,
        no_download: bool,
        backend: Option<String>,
        quiet: bool,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the rmd executable")?;
        let bin_dir = exe.parent().context("the rmd executable has no directory")?.to_path_buf();
        Ok(StageRunner {
            bin_dir,
            store: store.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            no_download,
            backend,
            quiet,
        })
    }

    /// The full command of a stage (for display and execution).
    pub fn command_line(&self, bin: &str, args: &[String]) -> Vec<String> {
        let mut v = vec![bin.to_string(), "--store".into(), self.store.display().to_string()];
        if reads_data(bin) && bin != "rmd" {
            v.extend(["--data-dir".into(), self.data_dir.display().to_string()]);
            if self.no_download {
                v.push("--no-download".into());
            }
        }
        if uses_backend(bin)
            && let Some(b) = &self.backend
        {
            v.extend(["--backend".into(), b.clone()]);
        }
        v.extend(args.iter().cloned());
        if bin == "rmd" && args.first().is_some_and(|verb| verb == "dataset") {
            // `rmd dataset NAME` takes the data flags after the verb.
            v.extend(["--data-dir".into(), self.data_dir.display().to_string()]);
            if self.no_download {
                v.push("--no-download".into());
            }
        }
        v
    }

    fn command(&self, line: &[String]) -> Command {
        let mut c = Command::new(self.bin_dir.join(&line[0]));
        c.args(&line[1..]);
        c
    }

    /// Asks a stage what it would do (`--plan -q`); stderr is kept for error messages.
    pub fn plan(&self, bin: &str, args: &[String]) -> anyhow::Result<Planned> {
        let mut line = self.command_line(bin, args);
        line.extend(["--plan".into(), "-q".into()]);
        let out = self
            .command(&line)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting {}", self.bin_dir.join(bin).display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "planning `{}` failed ({}):\n{}",
                line.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        let last = stdout.lines().last().unwrap_or("").trim().to_string();
        match last.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["run", _stage, key] => Ok(Planned::Run(key.to_string())),
            [key] if key.len() == 64 => Ok(Planned::Cached(key.to_string())),
            _ => bail!("planning `{}` printed no key (last line {last:?})", line.join(" ")),
        }
    }

    /// Runs a stage with its progress on this terminal; returns the key it printed and the
    /// seconds it took.
    pub fn run(&self, bin: &str, args: &[String]) -> anyhow::Result<(String, f64)> {
        let mut line = self.command_line(bin, args);
        if self.quiet && !line.iter().any(|a| a == "-q") {
            line.push("-q".into());
        }
        let started = Instant::now();
        let out = self
            .command(&line)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("starting {}", self.bin_dir.join(bin).display()))?;
        if !out.status.success() {
            let code = out.status.code().unwrap_or(1);
            return Err(StageFailed { command: line.join(" "), code }.into());
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let key = stdout.lines().last().unwrap_or("").trim().to_string();
        if key.len() != 64 {
            bail!("`{}` printed no artifact key (last line {key:?})", line.join(" "));
        }
        Ok((key, started.elapsed().as_secs_f64()))
    }
}

/// A stage process that exited unsuccessfully (its own message is already on stderr).
#[derive(Debug, thiserror::Error)]
#[error("stage failed with exit code {code}: {command}")]
pub struct StageFailed {
    /// The command line.
    pub command: String,
    /// Its exit code (2: input error).
    pub code: i32,
}
