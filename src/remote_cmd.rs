//! `rmd store remote|push|pull|status` and `rmd store verify --remote`: sharing artifacts
//! through a remote (S3-compatible, GCS, Azure, a shared folder, or read-only a web server).

use crate::cli::short;
use anyhow::bail;
use clap::{Args, Subcommand};
use rmd_remote::{Remote, RemoteConfig, RemoteEntry, RemoteSpec, TransferSummary};
use rmd_store::Store;
use std::collections::BTreeMap;

/// Every stage that writes artifacts: where a full key is looked for on a remote that
/// cannot list (a web server).
pub const ARTIFACT_STAGES: [&str; 7] = [
    rmd_data::dataset::DATASET_STAGE,
    rmd_data::noise::NOISE_STAGE,
    crate::stages::pretrain::PRETRAIN_STAGE,
    crate::stages::relations::RELATIONS_STAGE,
    crate::stages::relations::GRAPH_EVAL_STAGE,
    crate::label_issues::LABEL_ISSUES_STAGE,
    crate::stages::distill::DISTILL_STAGE,
];

/// The stages to look under: the known ones and any the local store has.
pub fn stage_names(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = ARTIFACT_STAGES.iter().map(|s| s.to_string()).collect();
    for s in store.stages().unwrap_or_default() {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// `--remote`: a configured name or a URL.
#[derive(Debug, Clone, Args)]
pub struct RemoteArg {
    /// The remote: a name from `rmd store remote add`, or a URL: s3://bucket/prefix,
    /// gs://bucket/prefix, az://container/prefix, file:///absolute/path, or
    /// https://host/prefix (read-only). Credentials come from the environment
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS,
    /// AZURE_STORAGE_ACCOUNT_NAME/AZURE_STORAGE_ACCOUNT_KEY); an S3-compatible endpoint from
    /// AWS_ENDPOINT_URL or the remote's `endpoint` option.
    #[arg(long, value_name = "NAME|URL")]
    pub remote: String,
}

impl RemoteArg {
    /// Connects (a folder remote is created when `for_writing`).
    pub fn open(&self, store: &Store, for_writing: bool) -> anyhow::Result<Remote> {
        open_remote(store, &self.remote, for_writing)
    }
}

/// Connects to `value` (a configured name or a URL) of `store`.
pub fn open_remote(store: &Store, value: &str, for_writing: bool) -> anyhow::Result<Remote> {
    let config = RemoteConfig::load(store.root())?;
    let spec: RemoteSpec = config.resolve(value, &BTreeMap::new())?;
    Ok(Remote::open(&spec, for_writing)?)
}

/// `rmd store remote ...`.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Name a remote in this store's `.remotes.toml` (no credentials are ever written).
    Add {
        /// Name to use with --remote (letters, digits, '-', '_').
        name: String,
        /// s3://bucket/prefix, gs://bucket/prefix, az://container/prefix,
        /// file:///absolute/path or https://host/prefix (read-only).
        url: String,
        /// A client option, KEY=VALUE (repeatable), e.g. endpoint=http://minio:9000,
        /// region=us-east-1, allow_http=true (object_store's configuration keys).
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// Replace a remote of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// Forget a remote (nothing on it is touched).
    Remove {
        /// Its name.
        name: String,
    },
    /// List the configured remotes.
    List,
}

/// Runs `rmd store remote ...`.
pub fn remote_verb(store: &Store, cmd: RemoteCommand) -> anyhow::Result<()> {
    let mut config = RemoteConfig::load(store.root())?;
    match cmd {
        RemoteCommand::Add { name, url, options, replace } => {
            let mut opts = BTreeMap::new();
            for o in &options {
                let Some((k, v)) = o.split_once('=') else {
                    bail!("--option {o:?}: expected KEY=VALUE");
                };
                opts.insert(k.trim().to_string(), v.trim().to_string());
            }
            let entry = RemoteEntry { url, options: opts };
            // The URL and option names are checked before they are saved (nothing is
            // contacted: a folder that does not exist yet is created by the first push).
            rmd_remote::check_spec(&RemoteSpec {
                name: Some(name.clone()),
                url: entry.url.clone(),
                options: entry.options.clone(),
            })?;
            config.add(&name, entry, replace)?;
            config.save(store.root())?;
            eprintln!("added remote {name} to {}", RemoteConfig::path(store.root()).display());
        }
        RemoteCommand::Remove { name } => {
            if config.remotes.remove(&name).is_none() {
                return Err(rmd_remote::RemoteError::Config(format!("no remote named {name}")).into());
            }
            config.save(store.root())?;
            eprintln!("removed remote {name}");
        }
        RemoteCommand::List => {
            for (name, e) in &config.remotes {
                let opts: Vec<String> =
                    e.options.iter().map(|(k, v)| format!("{k}={}", rmd_remote::redact_url(v))).collect();
                println!("{name}\t{}\t{}", rmd_remote::redact_url(&e.url), opts.join(","));
            }
        }
    }
    Ok(())
}

fn print_summary(verb: &str, s: &TransferSummary) {
    for n in &s.notes {
        rmd_store::report::note(format_args!("note: {n}"));
    }
    for a in &s.transferred {
        rmd_store::report::note(format_args!("{verb} {a}"));
    }
    rmd_store::report::note(s.line(verb));
}

/// `rmd store push --remote R KEY...`.
pub fn push(store: &Store, remote: &RemoteArg, keys: &[String]) -> anyhow::Result<TransferSummary> {
    if keys.is_empty() {
        bail!(
            "push: name at least one artifact (key or key prefix), or a pipeline with --pipeline NAME --profile P"
        );
    }
    let r = remote.open(store, true)?;
    let s = r.push(store, keys)?;
    print_summary("pushed", &s);
    Ok(s)
}

/// `rmd store pull --remote R KEY...`.
pub fn pull(store: &Store, remote: &RemoteArg, keys: &[String]) -> anyhow::Result<TransferSummary> {
    if keys.is_empty() {
        bail!("pull: name at least one artifact key (a prefix on remotes that can list)");
    }
    let r = remote.open(store, false)?;
    let stages = stage_names(store);
    let roots = keys.iter().map(|k| r.resolve(k, &stages)).collect::<Result<Vec<_>, _>>()?;
    let s = r.pull(store, &roots, &stages)?;
    print_summary("pulled", &s);
    for (_, key) in &roots {
        println!("{key}");
    }
    Ok(s)
}

/// `rmd store status --remote R`.
pub fn status(store: &Store, remote: &RemoteArg) -> anyhow::Result<()> {
    let r = remote.open(store, false)?;
    let s = r.status(store)?;
    let show = |what: &str, items: &[String]| {
        for a in items {
            let (stage, key) = a.split_once('/').unwrap_or(("", a));
            println!("{what:<12} {stage:<12} {}", short(key));
        }
    };
    show("both", &s.both);
    show("local-only", &s.only_local);
    if let Some(only) = &s.only_remote {
        show("remote-only", only);
    }
    show("incomplete", &s.incomplete_remote);
    println!(
        "{}: {} in both, {} only local, {} only remote{}",
        r.label(),
        s.both.len(),
        s.only_local.len(),
        s.only_remote
            .as_ref()
            .map(|v| v.len().to_string())
            .unwrap_or_else(|| "? (a web server cannot list)".into()),
        if s.incomplete_remote.is_empty() {
            String::new()
        } else {
            format!(
                ", {} incomplete upload(s) (invisible; rerun the push to finish them)",
                s.incomplete_remote.len()
            )
        }
    );
    Ok(())
}

/// `rmd store verify --remote R [KEY]`.
pub fn verify(store: &Store, remote: &RemoteArg, key: Option<&str>) -> anyhow::Result<()> {
    let r = remote.open(store, false)?;
    let keys: Vec<String> = key.into_iter().map(str::to_string).collect();
    let rep = r.verify(store, &keys, &stage_names(store))?;
    for k in &rep.incomplete {
        eprintln!("note: {k}: files without a manifest (an interrupted push; invisible to pulls)");
    }
    for (a, p) in &rep.problems {
        println!("FAILED {a}: {p}");
    }
    if rep.problems.is_empty() {
        println!(
            "ok: {} artifact(s) verified on {} ({:.1} MB downloaded)",
            rep.checked,
            r.label(),
            rep.bytes as f64 / 1e6
        );
        Ok(())
    } else {
        bail!("{} problem(s) in {} artifact(s) on {}", rep.problems.len(), rep.checked, r.label())
    }
}
