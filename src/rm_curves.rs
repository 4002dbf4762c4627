//! `rmd rm-curves`: RM artifacts side by side — the kNN monitor's accuracy against training
//! minutes (a table and a PNG/SVG plot), with the full-data diagnostics of any relations
//! artifact built from each encoder. This is how RM methods and recipes are compared.

use anyhow::{Context, bail};
use rmd_nn::pretrain::{EpochLog, PretrainParams, RmMethod};
use rmd_store::{Artifact, Store};
use std::fmt::Write as _;
use std::path::Path;

/// Diagnostics of a relations artifact built from an RM encoder (clean labels, all training
/// images as the bank, the whole test set).
#[derive(Debug, Clone, PartialEq)]
pub struct RelationsDiagnostics {
    /// Key of the relations artifact.
    pub key: String,
    /// Weighted kNN accuracy (k from the relations parameters).
    pub knn_acc: f64,
    /// Share of the top-K neighbours that share the sample's clean label.
    pub neighbour_agreement: f64,
    /// K of the graph.
    pub k: u64,
}

/// One RM artifact's curve and recipe.
#[derive(Debug, Clone)]
pub struct RmCurve {
    /// Legend entry.
    pub label: String,
    /// Artifact key.
    pub key: String,
    /// `simsiam` or `simclr`.
    pub method: String,
    /// A short description of the recipe (encoder, batch, lr, τ, epochs, images).
    pub recipe: String,
    /// (cumulative training minutes, kNN accuracy) after each monitored epoch.
    pub points: Vec<(f64, f64)>,
    /// The 1-based epoch of each point.
    pub point_epochs: Vec<usize>,
    /// Training minutes of the whole run (the monitor excluded).
    pub train_minutes: f64,
    /// Wall minutes of the whole run (the monitor included).
    pub wall_minutes: f64,
    /// Mean training images per second.
    pub images_per_s: f64,
    /// The last monitored kNN accuracy.
    pub final_knn: Option<f64>,
    /// The relations artifact built from this encoder with the default options, if any.
    pub relations: Option<RelationsDiagnostics>,
}

/// Reads the curves of the RM artifacts named by `specs` (`KEY` or `KEY=LABEL`, a unique key
/// prefix is enough; the label names the curve in the legend, default: its method and short
/// key). The store's relations artifacts are listed once for all of them.
pub fn load_all(store: &Store, specs: &[String]) -> anyhow::Result<Vec<RmCurve>> {
    let relations: Vec<Artifact> = store
        .list()?
        .into_iter()
        .filter(|a| a.stage() == crate::stages::relations::RELATIONS_STAGE)
        .collect();
    specs
        .iter()
        .map(|spec| {
            let (prefix, label) = match spec.split_once('=') {
                Some((k, l)) => (k, Some(l)),
                None => (spec.as_str(), None),
            };
            load(store, prefix, label, &relations).with_context(|| spec.clone())
        })
        .collect()
}

/// Reads the curve of the RM artifact whose key starts with `prefix`, and the diagnostics of
/// its relations artifact among `relations`.
fn load(store: &Store, prefix: &str, label: Option<&str>, relations: &[Artifact]) -> anyhow::Result<RmCurve> {
    let artifact = store.find(Some(crate::stages::pretrain::PRETRAIN_STAGE), prefix)?;
    let p: PretrainParams = serde_json::from_value(artifact.manifest.params.clone())
        .with_context(|| format!("{}: unreadable RM parameters", artifact.key()))?;
    let method = p.method.name();
    let images = artifact.manifest.metrics["images"]
        .as_u64()
        .with_context(|| format!("{}: no images metric", artifact.key()))? as usize;
    let per_epoch = (images / p.batch_size * p.batch_size) as f64;
    let path = artifact.path("epochs.csv");
    let mut rows: Vec<EpochLog> = rmd_nn::train::read_csv(&path)?;
    if rows.is_empty() {
        bail!("{}: no epochs", path.display());
    }
    // Timings live in the manifest's metrics; artifacts made before that have them in
    // epochs.csv, already read.
    let metrics = &artifact.manifest.metrics;
    if let (Some(secs), Some(rates)) =
        (metrics["epoch_seconds"].as_array(), metrics["epoch_images_per_s"].as_array())
        && secs.len() == rows.len()
        && rates.len() == rows.len()
    {
        for ((r, s), i) in rows.iter_mut().zip(secs).zip(rates) {
            r.seconds = s.as_f64().unwrap_or(0.0);
            r.images_per_s = i.as_f64().unwrap_or(0.0);
        }
    }
    let mut minutes = 0.0;
    let (mut points, mut point_epochs) = (Vec::new(), Vec::new());
    for r in &rows {
        if r.images_per_s > 0.0 {
            minutes += per_epoch / r.images_per_s / 60.0;
        }
        if let Some(acc) = r.knn_acc {
            points.push((minutes, acc));
            point_epochs.push(r.epoch);
        }
    }
    let list = |v: &[usize]| format!("[{}]", v.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    let enc = &p.model.encoder;
    let recipe = format!(
        "widths {} blocks {} stem/{}, batch {}, base lr {}{}, {} epochs × {images} images",
        list(&enc.widths),
        list(&enc.blocks),
        enc.stem_stride,
        p.batch_size,
        p.base_lr,
        match p.method {
            RmMethod::SimClr { temperature } => format!(", τ {temperature}"),
            RmMethod::SimSiam => String::new(),
        },
        rows.len(),
    );
    let short = &artifact.key()[..12];
    Ok(RmCurve {
        label: label.map(str::to_string).unwrap_or_else(|| format!("{method} {short}")),
        key: artifact.key().to_string(),
        method: method.to_string(),
        recipe,
        train_minutes: minutes,
        wall_minutes: rows.iter().map(|r| r.seconds).sum::<f64>() / 60.0,
        images_per_s: rows.iter().map(|r| r.images_per_s).sum::<f64>() / rows.len() as f64,
        final_knn: points.last().map(|p| p.1),
        points,
        point_epochs,
        relations: relations_of(&artifact, relations),
    })
}

/// Among `relations`, the newest one built from `rm` with default options (no `--centre`).
fn relations_of(rm: &Artifact, relations: &[Artifact]) -> Option<RelationsDiagnostics> {
    let a = relations
        .iter()
        .filter(|a| a.manifest.inputs.get("encoder").map(String::as_str) == Some(rm.key()))
        .filter(|a| a.manifest.params.get("centre").is_none())
        .max_by_key(|a| &a.manifest.started_at)?;
    let m = &a.manifest.metrics;
    Some(RelationsDiagnostics {
        key: a.key().to_string(),
        knn_acc: m["knn_acc"].as_f64()?,
        neighbour_agreement: m["neighbour_label_agreement"].as_f64()?,
        k: m["k"].as_u64()?,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

/// The comparison as a Markdown table.
pub fn markdown(curves: &[RmCurve]) -> String {
    let mut s = String::from(
        "| RM | method | recipe | train min | wall min | img/s | monitor kNN | relations kNN | top-K agreement | key |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for c in curves {
        let rel = c.relations.as_ref();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.1} | {:.0} | {} | {} | {} | `{}` |",
            c.label,
            c.method,
            c.recipe,
            c.train_minutes,
            c.wall_minutes,
            c.images_per_s,
            opt(c.final_knn),
            opt(rel.map(|r| r.knn_acc)),
            rel.map(|r| format!("{:.4} (K {})", r.neighbour_agreement, r.k)).unwrap_or_else(|| "–".into()),
            &c.key[..12],
        );
    }
    s.push_str(
        "\nmonitor kNN: the RM stage's per-epoch monitor (its bank and test subsets, k from its \
         parameters); relations kNN and agreement: the relations stage's diagnostics on all \
         training images and the whole test set. Both read the clean labels; training never does. \
         Minutes exclude the monitor unless marked wall.\n",
    );
    s
}

/// Every point of every curve as CSV: label, key, method, epoch, cumulative training
/// minutes, kNN accuracy.
pub fn csv_text(curves: &[RmCurve]) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["label", "key", "method", "epoch", "train_minutes", "knn_acc"])?;
    for c in curves {
        for ((min, acc), epoch) in c.points.iter().zip(&c.point_epochs) {
            w.write_record([
                c.label.as_str(),
                c.key.as_str(),
                c.method.as_str(),
                &epoch.to_string(),
                &format!("{min:.3}"),
                &format!("{acc}"),
            ])?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// Writes `rm-curves.md`, `rm-curves.csv`, `rm-curves.png` and `rm-curves.svg` into `out`;
/// returns the file names.
pub fn write(out: &Path, curves: &[RmCurve]) -> anyhow::Result<Vec<String>> {
    crate::cli::create_output_dir(out, "--out")?;
    let md = out.join("rm-curves.md");
    rmd_store::output::write_file(&md, markdown(curves).as_bytes())?;
    let csv_path = out.join("rm-curves.csv");
    rmd_store::output::write_file(&csv_path, csv_text(curves)?.as_bytes())?;
    let series: Vec<(String, Vec<(f64, f64)>)> =
        curves.iter().map(|c| (c.label.clone(), c.points.clone())).collect();
    let mut files = vec!["rm-curves.md".to_string(), "rm-curves.csv".to_string()];
    files.extend(crate::reproduce::plots::draw_rm_curves(out, &series)?);
    Ok(files)
}
