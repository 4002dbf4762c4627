//! `rmd store ...`: list, show, verify, gc, export and import artifacts.

use crate::cli::{StoreDirArgs, short};
use anyhow::{Context, bail};
use clap::Subcommand;
use rmd_store::{GcOptions, Store};
use std::path::PathBuf;

/// Store maintenance verbs.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// List complete artifacts: stage, key prefix, finish time, size, and key parameters.
    List {
        /// Only this stage (dataset, noise, ...).
        #[arg(long)]
        stage: Option<String>,
    },
    /// Print the manifest of the artifact whose key starts with KEY.
    Show {
        /// Key or unique key prefix.
        key: String,
        /// Print only the artifact directory.
        #[arg(long)]
        path: bool,
    },
    /// Re-hash outputs and check manifests; exits 1 if anything was changed or is missing.
    /// With --remote, downloads the remote's artifacts into a staging directory and checks
    /// them the same way (nothing is installed).
    #[command(about = "Re-hash outputs and check manifests (of a remote with --remote); exit 1 on problems")]
    Verify {
        /// Only the artifact with this key prefix (default: all).
        key: Option<String>,
        /// Verify what this remote holds instead of the local store (name or URL).
        #[arg(long, value_name = "NAME|URL")]
        remote: Option<String>,
    },
    /// Remove the store's own leftovers: partial directories of interrupted runs (their
    /// checkpoints too), replaced artifacts, abandoned imports. Artifact directories without a
    /// readable manifest are moved to `.quarantine/` (never deleted); artifacts whose inputs
    /// are gone are reported and kept. Nothing else is touched.
    #[command(
        about = "Remove the store's own leftovers (interrupted runs, replaced artifacts); --keep to prune"
    )]
    Gc {
        /// Keep only these artifacts (key prefixes) and their inputs; remove everything else.
        #[arg(long, value_name = "KEY")]
        keep: Vec<String>,
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write an artifact and all its inputs to a relocatable bundle (.tar.gz).
    Export {
        /// Key or unique key prefix.
        key: String,
        /// Bundle file to write.
        file: PathBuf,
        /// Leave out inputs of this stage (repeatable; e.g. `--without dataset`: the images
        /// themselves, made by `rmd dataset` from the recipient's copy; `--without noise`:
        /// the dataset's labels, remade in seconds from the same data; `--without
        /// relations`: large, shared on their own). The importing store must have them
        /// already, and `import` says which are missing.
        #[arg(long, value_name = "STAGE")]
        without: Vec<String>,
    },
    /// Verify a bundle and add its artifacts to this store.
    Import {
        /// Bundle file written by `export`.
        file: PathBuf,
    },
    /// Name, forget or list remotes (kept in the store's `.remotes.toml`, without credentials).
    #[command(subcommand, about = "Name, forget or list remotes (no credentials are kept)")]
    Remote(crate::remote_cmd::RemoteCommand),
    /// Upload artifacts and every input they depend on to a remote: files first, each
    /// manifest last and only if absent, so an interrupted push never leaves an artifact that
    /// looks complete (rerun it to finish), and two people pushing at once are fine.
    #[command(about = "Upload artifacts and their inputs to a remote (manifest last, only if absent)")]
    Push {
        #[command(flatten)]
        remote: crate::remote_cmd::RemoteArg,
        /// Keys or unique key prefixes of the artifacts to push.
        keys: Vec<String>,
        /// Push every artifact of this pipeline's plan (pipelines/NAME.toml or a path) that
        /// the store has; with --profile.
        #[arg(long, value_name = "NAME")]
        pipeline: Option<String>,
        /// The pipeline's profile (with --pipeline).
        #[arg(long, default_value = "cpu", requires = "pipeline")]
        profile: String,
        /// Raw-data directory, for planning a pipeline's dataset (with --pipeline).
        #[arg(long, env = rmd_data::DATA_DIR_ENV, default_value = "data/raw", value_name = "DIR")]
        data_dir: PathBuf,
        /// Nothing on stderr but warnings and errors (no progress, no per-artifact lines).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Download artifacts (and the inputs this store lacks) from a remote; everything is
    /// verified (sizes, blake3, keys re-derived, embedded keys) before anything is installed.
    /// Prints each requested key.
    #[command(about = "Download artifacts and missing inputs from a remote, verified before install")]
    Pull {
        #[command(flatten)]
        remote: crate::remote_cmd::RemoteArg,
        /// Keys (or, on remotes that can list, unique key prefixes).
        keys: Vec<String>,
        /// Nothing on stderr but warnings and errors (no progress, no per-artifact lines).
        #[arg(long, short)]
        quiet: bool,
    },
    /// What is only in this store, only on the remote, or in both.
    Status {
        #[command(flatten)]
        remote: crate::remote_cmd::RemoteArg,
    },
}

/// Runs one store verb.
pub fn run(cmd: StoreCommand, store_args: &StoreDirArgs) -> anyhow::Result<()> {
    let store = store_args.open()?;
    match cmd {
        StoreCommand::List { stage } => list(&store, stage.as_deref()),
        StoreCommand::Show { key, path } => {
            let a = store.find(None, &key)?;
            if path {
                println!("{}", a.dir.display());
            } else {
                println!("{}", a.manifest.to_json_pretty());
            }
            Ok(())
        }
        StoreCommand::Verify { key, remote: Some(remote) } => {
            crate::remote_cmd::verify(&store, &crate::remote_cmd::RemoteArg { remote }, key.as_deref())
        }
        StoreCommand::Verify { key, remote: None } => {
            let report = store.verify(key.as_deref())?;
            for w in &report.warnings {
                eprintln!("warning: {}/{}: {}", w.stage, short(&w.key), w.what);
            }
            for p in &report.problems {
                println!("FAILED {}/{}: {}", p.stage, short(&p.key), p.what);
            }
            if report.problems.is_empty() {
                println!("ok: {} artifact(s) verified in {}", report.checked, store.root().display());
                Ok(())
            } else {
                bail!("{} problem(s) in {} artifact(s) checked", report.problems.len(), report.checked)
            }
        }
        StoreCommand::Gc { keep, dry_run } => {
            let r = store.gc(&GcOptions { keep, dry_run })?;
            for line in &r.removed {
                println!("{}{line}", if dry_run { "would remove " } else { "removed " });
            }
            for line in &r.quarantined {
                println!("{}{line}", if dry_run { "would be quarantined: " } else { "quarantined: " });
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            if !r.quarantined.is_empty() && !dry_run {
                eprintln!(
                    "note: quarantined directories are kept in {}; delete them when you are sure they are not needed",
                    store.root().join(rmd_store::QUARANTINE_DIR).display()
                );
            }
            println!(
                "{} {} item(s), {:.1} MB",
                if dry_run { "would free" } else { "freed" },
                r.removed.len(),
                r.bytes as f64 / 1e6
            );
            Ok(())
        }
        StoreCommand::Export { key, file, without } => {
            let without: std::collections::BTreeSet<String> = without.into_iter().collect();
            let s = store.export(&key, &file, &without).with_context(|| format!("exporting {key}"))?;
            eprintln!(
                "wrote {} ({:.1} MB): {}",
                file.display(),
                s.bytes as f64 / 1e6,
                s.artifacts.join(", ")
            );
            if !s.left_out.is_empty() {
                eprintln!("left out (the importing store must have them): {}", s.left_out.join(", "));
            }
            Ok(())
        }
        StoreCommand::Remote(cmd) => crate::remote_cmd::remote_verb(&store, cmd),
        StoreCommand::Push { remote, keys, pipeline: None, quiet, .. } => {
            rmd_store::report::set_quiet(quiet);
            crate::remote_cmd::push(&store, &remote, &keys).map(|_| ())
        }
        StoreCommand::Push { remote, mut keys, pipeline: Some(name), profile, data_dir, quiet } => {
            rmd_store::report::set_quiet(quiet);
            let planned = crate::reproduce::planned_artifacts(&name, &profile, &store_args.store, &data_dir)?;
            if planned.missing > 0 {
                rmd_store::report::note(format_args!(
                    "note: {} planned artifact(s) are not in the store and are not pushed (run `rmd reproduce {name} --profile {profile}` first)",
                    planned.missing
                ));
            }
            keys.extend(planned.present);
            crate::remote_cmd::push(&store, &remote, &keys)?;
            // The name record last: it never names a dataset the remote does not have yet.
            let r = remote.open(&store, true)?;
            crate::reproduce::push_name_record(&r, &planned.dataset_name, &planned.dataset_key)?;
            Ok(())
        }
        StoreCommand::Pull { remote, keys, quiet } => {
            rmd_store::report::set_quiet(quiet);
            crate::remote_cmd::pull(&store, &remote, &keys).map(|_| ())
        }
        StoreCommand::Status { remote } => crate::remote_cmd::status(&store, &remote),
        StoreCommand::Import { file } => {
            crate::cli::require_regular_file(&file, "bundle file")?;
            let s = store.import(&file)?;
            for a in &s.imported {
                eprintln!("imported {a}");
            }
            for a in &s.already_present {
                eprintln!("already present {a}");
            }
            println!("{}", s.root.rsplit('/').next().unwrap_or(&s.root));
            Ok(())
        }
    }
}

fn list(store: &Store, stage: Option<&str>) -> anyhow::Result<()> {
    let all = store.list()?;
    println!("{:<10} {:<12} {:<20} {:>10}  params", "stage", "key", "finished", "MB");
    for a in all.iter().filter(|a| stage.is_none_or(|s| a.stage() == s)) {
        let bytes: u64 = a.manifest.outputs.values().map(|o| o.bytes).sum();
        let params = rmd_store::canonical_json(&shorten_hashes(&a.manifest.params));
        let params = if params.len() > 90 { format!("{}...", &params[..87]) } else { params };
        println!(
            "{:<10} {:<12} {:<20} {:>10.1}  {}",
            a.stage(),
            short(a.key()),
            a.manifest.finished_at,
            bytes as f64 / 1e6,
            params
        );
    }
    Ok(())
}

/// Replaces 64-digit hex strings (keys, content hashes) by their first 12 digits, so
/// parameter summaries stay readable.
fn shorten_hashes(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Value::String(format!("{}..", &s[..12]))
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shorten_hashes(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shorten_hashes).collect()),
        other => other.clone(),
    }
}
