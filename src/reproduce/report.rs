//! The report of a pipeline run: results table (Markdown and CSV) with the delta of each
//! RGRL run over its base, and the plots.

use super::pipeline::{NoiseSpec, Pipeline, RunSpec, TeacherSource, TeacherSpec};
use super::plots;
use anyhow::Context;
use rmd_nn::distill::EpochLog;
use rmd_nn::relations::RelationGraph;
use rmd_store::{Artifact, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The outcome of one RGRL-stage artifact.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Noise id.
    pub noise: String,
    /// The run.
    pub run: RunSpec,
    /// Teacher id of an RGRL run.
    pub teacher: Option<String>,
    /// Seed.
    pub seed: u64,
    /// Artifact key.
    pub key: String,
    /// Test accuracy at the epoch selected on the noisy validation split (None without one).
    pub selected: Option<f64>,
    /// That epoch.
    pub selected_epoch: Option<usize>,
    /// Last-epoch test accuracy.
    pub last: f64,
    /// Best test accuracy over epochs (chosen on the test set: an extra, not a result).
    pub best: f64,
    /// Minutes the run trained and evaluated: the sum of its epochs' seconds, so a run
    /// resumed after an interruption counts the epochs of every attempt (artifacts without
    /// that metric: the manifest's wall time).
    pub minutes: f64,
    /// Per-epoch curve.
    pub epochs: Vec<EpochLog>,
}

impl RunResult {
    /// Reads a distill artifact.
    pub fn read(
        store: &Path,
        key: &str,
        noise: &NoiseSpec,
        run: &RunSpec,
        teacher: Option<&str>,
        seed: u64,
    ) -> anyhow::Result<RunResult> {
        let store = Store::open(store)?.with_content_check(rmd_data::artifact_check::check_artifact);
        let a = store.find(Some("distill"), key)?;
        let m = &a.manifest;
        let num = |k: &str| {
            m.metrics[k]
                .as_f64()
                .with_context(|| format!("{}: metric {k} missing", a.path("manifest.json").display()))
        };
        Ok(RunResult {
            noise: noise.id.clone(),
            run: run.clone(),
            teacher: teacher.map(String::from),
            seed,
            key: key.to_string(),
            selected: m.metrics["val_selected_test_acc"].as_f64(),
            selected_epoch: m.metrics["val_selected_epoch"].as_u64().map(|e| e as usize),
            last: num("last_test_acc")?,
            best: num("best_test_acc")?,
            minutes: m.metrics["train_seconds"].as_f64().unwrap_or(m.wall_seconds) / 60.0,
            epochs: read_epochs(&a)?,
        })
    }

    /// The run's name with its teacher (`ce+rgrl @synthetic-0.9`).
    pub fn label(&self) -> String {
        label(&self.run.name, self.teacher.as_deref())
    }
}

fn label(run: &str, teacher: Option<&str>) -> String {
    match teacher {
        Some(t) => format!("{run} @{t}"),
        None => run.to_string(),
    }
}

fn read_epochs(a: &Artifact) -> anyhow::Result<Vec<EpochLog>> {
    Ok(rmd_nn::train::read_csv(&a.path("epochs.csv"))?)
}

/// Everything the report is made of.
pub struct ReportInput<'a> {
    /// The pipeline.
    pub pipeline: &'a Pipeline,
    /// Profile name.
    pub profile: &'a str,
    /// Store directory.
    pub store: &'a Path,
    /// Dataset key.
    pub dataset: &'a str,
    /// RM artifact key (when the profile ran the RM stage).
    pub encoder: Option<&'a str>,
    /// The teachers and their relations artifact keys.
    pub teachers: &'a [(TeacherSpec, String)],
    /// (noise id, noise key) in pipeline order.
    pub noise: &'a [(String, String)],
    /// Every RGRL-stage result.
    pub results: &'a [RunResult],
    /// Planned artifacts left out because the store lacks them (`--cached-only`), as
    /// "stage label" lines; empty for a complete report.
    pub pending: &'a [String],
    /// Output directory.
    pub out: &'a Path,
    /// Wall seconds of the whole `reproduce` call; None for a `--cached-only` report, which
    /// computed nothing.
    pub wall_seconds: Option<f64>,
}

/// Mean and sample standard deviation (None with one value).
fn mean_std(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1).then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

fn pct(mean: f64, std: Option<f64>) -> String {
    match std {
        Some(s) => format!("{:.2} ± {:.2}", 100.0 * mean, 100.0 * s),
        None => format!("{:.2}", 100.0 * mean),
    }
}

fn signed_pct(mean: f64, std: Option<f64>) -> String {
    match std {
        Some(s) => format!("{:+.2} ± {:.2}", 100.0 * mean, 100.0 * s),
        None => format!("{:+.2}", 100.0 * mean),
    }
}

/// One table row: a run of a noise setting (with one teacher) over its seeds.
struct Row<'a> {
    noise: &'a str,
    run: &'a RunSpec,
    teacher: Option<&'a str>,
    results: Vec<&'a RunResult>,
    selected: Option<(f64, Option<f64>)>,
    last: (f64, Option<f64>),
    best: (f64, Option<f64>),
    minutes: f64,
}

impl Row<'_> {
    fn seeds(&self) -> Vec<u64> {
        self.results.iter().map(|r| r.seed).collect()
    }

    fn selected_epochs(&self) -> String {
        self.results
            .iter()
            .map(|r| r.selected_epoch.map(|e| e.to_string()).unwrap_or("-".into()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn rows<'a>(results: &'a [RunResult]) -> Vec<Row<'a>> {
    type GroupKey<'k> = (&'k str, &'k str, Option<&'k str>);
    let mut order: Vec<GroupKey> = Vec::new();
    let mut groups: BTreeMap<GroupKey, Vec<&RunResult>> = BTreeMap::new();
    for r in results {
        let k = (r.noise.as_str(), r.run.name.as_str(), r.teacher.as_deref());
        if !groups.contains_key(&k) {
            order.push(k);
        }
        groups.entry(k).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let g = groups.remove(&k).expect("grouped");
            let selected: Option<Vec<f64>> = g.iter().map(|r| r.selected).collect();
            Row {
                noise: k.0,
                run: &g[0].run,
                teacher: k.2,
                selected: selected.map(|v| mean_std(&v)),
                last: mean_std(&g.iter().map(|r| r.last).collect::<Vec<_>>()),
                best: mean_std(&g.iter().map(|r| r.best).collect::<Vec<_>>()),
                minutes: g.iter().map(|r| r.minutes).sum(),
                results: g,
            }
        })
        .collect()
}

/// Differences of a row and its base row: means of the per-seed differences over the seeds
/// both ran, with their standard deviation (paired by seed).
#[derive(Debug, Clone, PartialEq)]
struct Delta {
    base: String,
    selected: Option<(f64, Option<f64>)>,
    last: (f64, Option<f64>),
    best: (f64, Option<f64>),
}

/// The (run, base) results of every seed both rows ran, in the row's seed order.
fn seed_pairs<'a>(row: &Row<'a>, base: &Row<'a>) -> Vec<(&'a RunResult, &'a RunResult)> {
    row.results
        .iter()
        .filter_map(|r| base.results.iter().find(|b| b.seed == r.seed).map(|b| (*r, *b)))
        .collect()
}

fn paired(row: &Row, base: &Row, f: impl Fn(&RunResult) -> Option<f64>) -> Option<(f64, Option<f64>)> {
    let mut d = Vec::new();
    for (r, b) in seed_pairs(row, base) {
        d.push(f(r)? - f(b)?);
    }
    (!d.is_empty()).then(|| mean_std(&d))
}

/// The row a row is compared with: its base run under the same noise setting.
fn base_row<'r, 'a>(p: &Pipeline, rows: &'r [Row<'a>], r: &Row) -> Option<&'r Row<'a>> {
    let base_spec = p.base_of(r.run)?;
    rows.iter().find(|b| b.noise == r.noise && b.run.name == base_spec.name && b.teacher.is_none())
}

fn delta(p: &Pipeline, rows: &[Row], r: &Row) -> Option<Delta> {
    let b = base_row(p, rows, r)?;
    Some(Delta {
        base: b.run.name.clone(),
        selected: paired(r, b, |x| x.selected),
        last: paired(r, b, |x| Some(x.last))?,
        best: paired(r, b, |x| Some(x.best))?,
    })
}

/// Per-epoch Δ of a row over its base: for every epoch both logged, the mean over the seeds
/// both ran of (run − base) noisy-validation accuracy (None when a run has no validation
/// split) and test accuracy.
fn epoch_deltas(row: &Row, base: &Row) -> Vec<plots::EpochDelta> {
    let pairs = seed_pairs(row, base);
    let epochs = pairs.iter().map(|(r, b)| r.epochs.len().min(b.epochs.len())).min().unwrap_or(0);
    (0..epochs)
        .map(|e| {
            let n = pairs.len() as f64;
            let val: Option<f64> = pairs
                .iter()
                .map(|(r, b)| Some(r.epochs[e].val_acc_noisy? - b.epochs[e].val_acc_noisy?))
                .sum::<Option<f64>>()
                .map(|d| d / n);
            let test =
                pairs.iter().map(|(r, b)| r.epochs[e].test_acc - b.epochs[e].test_acc).sum::<f64>() / n;
            plots::EpochDelta { epoch: pairs[0].0.epochs[e].epoch, val, test, seeds: pairs.len() }
        })
        .collect()
}

/// The per-epoch Δ of every row of `noise` that has a base, as plot series (legend label,
/// points); their numbers are appended to `csv` (`deltas-by-epoch.csv` rows).
fn epoch_delta_series(
    p: &Pipeline,
    rows: &[Row],
    noise: &str,
    csv: &mut String,
) -> Vec<(String, Vec<plots::EpochDelta>)> {
    let mut deltas = Vec::new();
    for r in rows.iter().filter(|r| r.noise == noise) {
        let Some(b) = base_row(p, rows, r) else { continue };
        let d = epoch_deltas(r, b);
        for e in &d {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                r.noise,
                r.run.name,
                r.teacher.unwrap_or(""),
                b.run.name,
                e.epoch,
                e.seeds,
                opt_cell(e.val),
                num_cell(e.test)
            );
        }
        deltas.push((format!("{} over {}", label(&r.run.name, r.teacher), b.run.name), d));
    }
    deltas
}

/// A CSV cell of an optional number (empty when absent).
fn opt_cell(v: Option<f64>) -> String {
    v.map(num_cell).unwrap_or_default()
}

/// A CSV cell of a number rounded to 6 decimals, without trailing zeros: accuracies are
/// multiples of 1/test-set size, so this keeps every digit they carry while a mean such as
/// 0.7514 is written `0.7514`, not `0.7514000000000001`.
fn num_cell(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_string(),
        s => s.to_string(),
    }
}

/// A teacher's figures for the report.
struct TeacherRow<'a> {
    spec: &'a TeacherSpec,
    key: &'a str,
    artifact: Artifact,
    agreement: Option<f64>,
    knn: Option<f64>,
}

/// Writes `results.md`, `results.csv`, the plots and, with synthetic teachers, the sweep
/// table and plot into `input.out`.
pub fn write_report(input: &ReportInput) -> anyhow::Result<()> {
    let out = input.out;
    crate::cli::create_output_dir(out, "--out")?;
    let store = Store::open(input.store)?.with_content_check(rmd_data::artifact_check::check_artifact);
    let p = input.pipeline;
    let rows = rows(input.results);
    let mut teachers = Vec::new();
    for (spec, key) in input.teachers {
        let artifact = store.find(Some("relations"), key)?;
        teachers.push(TeacherRow {
            spec,
            key,
            agreement: artifact.manifest.metrics["neighbour_label_agreement"].as_f64(),
            knn: artifact.manifest.metrics["knn_acc"].as_f64(),
            artifact,
        });
    }
    // The embedding map shows the RM teacher when there is one, else the first teacher; its
    // embeddings are read once for every noise setting.
    let map_teacher = teachers.iter().find(|t| t.spec.needs_rm()).or(teachers.first());
    let map_graph = map_teacher.map(|t| RelationGraph::open(&t.artifact.dir)).transpose()?;
    let f4 = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or("-".into());

    let mut md = String::new();
    let _ = writeln!(md, "# {}: {}\n", p.name, p.description);
    let encoder = match input.encoder {
        Some(k) => {
            let enc = store.find(Some("pretrain"), k)?;
            format!(
                "; RM encoder [{}] (kNN accuracy {})",
                &k[..12],
                f4(enc.manifest.metrics["final_knn_acc"].as_f64())
            )
        }
        None => String::new(),
    };
    // An imported dataset's test labels are the user's, not known to be clean.
    let test_set =
        if p.import.is_some() { "the test split (its labels as given)" } else { "the clean test set" };
    let _ = writeln!(
        md,
        "Profile `{}`; dataset `{}` [{}]{encoder}. Test accuracy on {test_set}, in %, mean ± sample std over the seeds (a seed sets the classifier's initialisation, sample order, augmentation and training subset; the noise and the teachers have their own seeds, fixed here). **val-selected**: at the epoch with the best accuracy on the held-out noisy validation split; **last**: last epoch; *best on test* picks the epoch on the test set and is shown only for reference. Δ: the run minus its base run (column *Δ over*: by default the same loss without RGRL), paired by seed. {}\n",
        input.profile,
        p.dataset,
        &input.dataset[..12],
        match input.wall_seconds {
            Some(w) => format!("`rmd reproduce` wall time: {:.1} min.", w / 60.0),
            None => "Written from the artifacts in the store (`--cached-only`): nothing was computed for it; the minutes are the runs' own.".into(),
        }
    );
    if !input.pending.is_empty() {
        let _ = writeln!(
            md,
            "**Partial report** (`--cached-only`): {} planned artifacts are not in the store yet and are left out:\n",
            input.pending.len()
        );
        for line in input.pending {
            let _ = writeln!(md, "* {line}");
        }
        let _ = writeln!(md);
    }
    if !teachers.is_empty() {
        let _ =
            writeln!(md, "| teacher | kind | relations | top-K neighbour label agreement | kNN accuracy |");
        let _ = writeln!(md, "|---|---|---|---|---|");
        for t in &teachers {
            let kind = match t.spec.source() {
                TeacherSource::Run(src) => {
                    format!("classifier of run {} ({}, seed {})", src.run, src.noise, src.seed)
                }
                TeacherSource::Synthetic(pur) => {
                    format!("synthetic, purity {pur}, built from clean labels (diagnostic)")
                }
                TeacherSource::Embeddings(file) => format!("external embeddings `{}`", file.display()),
                TeacherSource::Rm => "RM encoder".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {kind} | [{}] | {} | {} |",
                t.spec.id,
                &t.key[..12],
                f4(t.agreement),
                f4(t.knn)
            );
        }
        let _ = writeln!(md);
    }
    let mut csv = String::from(
        "noise,run,teacher,base_loss,rgrl,init_from_rm,extra_args,seeds,val_selected_mean,val_selected_std,val_selected_epochs,last_mean,last_std,best_on_test_mean,best_on_test_std,base_run,delta_val_selected,delta_val_selected_std,delta_last,delta_last_std,delta_best_on_test,minutes,keys\n",
    );
    let opt = opt_cell;
    let mut by_epoch =
        String::from("noise,run,teacher,base_run,epoch,seeds,delta_val_acc_noisy,delta_test_acc\n");
    for (noise, noise_key) in input.noise {
        let _ = writeln!(md, "## Noise `{noise}` [{}]\n", &noise_key[..12]);
        let _ = writeln!(
            md,
            "| run | teacher | base loss | RGRL | seeds | val-selected acc | selected epochs | last acc | Δ over | Δ val-selected | Δ last | *best on test* | minutes (all seeds) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows.iter().filter(|r| r.noise == noise) {
            let d = delta(p, &rows, r);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | *{}* | {:.1} |",
                r.run.name,
                r.teacher.unwrap_or(""),
                r.run.loss,
                if r.run.rgrl { "on" } else { "off" },
                r.results.len(),
                r.selected.map(|s| pct(s.0, s.1)).unwrap_or("-".into()),
                r.selected_epochs(),
                pct(r.last.0, r.last.1),
                d.as_ref().map(|d| d.base.as_str()).unwrap_or_default(),
                d.as_ref().and_then(|d| d.selected).map(|s| signed_pct(s.0, s.1)).unwrap_or_default(),
                d.as_ref().map(|d| signed_pct(d.last.0, d.last.1)).unwrap_or_default(),
                pct(r.best.0, r.best.1),
                r.minutes
            );
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.2},{}",
                r.noise,
                r.run.name,
                r.teacher.unwrap_or(""),
                r.run.loss,
                r.run.rgrl,
                r.run.init_from_rm,
                r.run.args.join(" "),
                r.seeds().iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
                opt(r.selected.map(|s| s.0)),
                opt(r.selected.and_then(|s| s.1)),
                r.selected_epochs(),
                num_cell(r.last.0),
                opt(r.last.1),
                num_cell(r.best.0),
                opt(r.best.1),
                d.as_ref().map(|d| d.base.clone()).unwrap_or_default(),
                opt(d.as_ref().and_then(|d| d.selected).map(|s| s.0)),
                opt(d.as_ref().and_then(|d| d.selected).and_then(|s| s.1)),
                opt(d.as_ref().map(|d| d.last.0)),
                opt(d.as_ref().and_then(|d| d.last.1)),
                opt(d.as_ref().map(|d| d.best.0)),
                r.minutes,
                r.results.iter().map(|r| r.key.as_str()).collect::<Vec<_>>().join(" ")
            );
        }
        let _ = writeln!(md);
        let noise_art = store.find(Some("noise"), noise_key)?;
        let runs: Vec<&RunResult> = input.results.iter().filter(|r| &r.noise == noise).collect();
        let mut files = plots::draw_all(out, noise, &runs, &noise_art, map_graph.as_ref(), &store)?;
        let deltas = epoch_delta_series(p, &rows, noise, &mut by_epoch);
        if deltas.iter().any(|(_, d)| !d.is_empty()) {
            files.extend(plots::draw_deltas(out, noise, &deltas)?);
        }
        let _ = writeln!(
            md,
            "Plots: {}\n",
            files.iter().map(|f| format!("[{f}]({f})")).collect::<Vec<_>>().join(", ")
        );
    }
    if teachers.iter().any(|t| t.spec.synthetic_purity.is_some()) {
        write_sweep(&mut md, input, p, &rows, &teachers, &store)?;
    }
    rmd_store::output::write_file(&out.join("results.md"), md.as_bytes())?;
    rmd_store::output::write_file(&out.join("results.csv"), csv.as_bytes())?;
    rmd_store::output::write_file(&out.join("deltas-by-epoch.csv"), by_epoch.as_bytes())?;
    Ok(())
}

/// The teacher-quality sweep: Δ (val-selected) of every RGRL run over its base per teacher
/// and noise setting, the clean-label reference, and the Δ-against-purity plot.
fn write_sweep(
    md: &mut String,
    input: &ReportInput,
    p: &Pipeline,
    rows: &[Row],
    teachers: &[TeacherRow],
    store: &Store,
) -> anyhow::Result<()> {
    let mut series: Vec<plots::SweepSeries> = Vec::new();
    let rgrl_runs: BTreeSet<&str> = rows.iter().filter(|r| r.run.rgrl).map(|r| r.run.name.as_str()).collect();
    // Δ val-selected (mean, std) of a run with a teacher under a noise setting.
    let selected_delta = |noise: &str, run: &str, teacher: &str| {
        rows.iter()
            .find(|r| r.noise == noise && r.run.name == run && r.teacher == Some(teacher))
            .and_then(|r| delta(p, rows, r))
            .and_then(|d| d.selected)
    };
    let noises: Vec<&str> = input
        .noise
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|n| rows.iter().any(|r| r.noise == *n && r.run.rgrl))
        .collect();
    let _ = writeln!(md, "## Teacher sweep: Δ val-selected test accuracy (RGRL run − its base), points\n");
    let mut by_purity: Vec<&TeacherRow> = teachers.iter().collect();
    by_purity.sort_by(|a, b| a.agreement.unwrap_or(0.0).total_cmp(&b.agreement.unwrap_or(0.0)));
    for run in &rgrl_runs {
        let _ = writeln!(md, "Run `{run}`:\n");
        let _ = write!(md, "| teacher | agreement |");
        for n in &noises {
            let _ = write!(md, " {n} |");
        }
        let _ = writeln!(md, "\n|---|---|{}", "---|".repeat(noises.len()));
        for t in &by_purity {
            let _ = write!(
                md,
                "| {} | {} |",
                t.spec.id,
                t.agreement.map(|a| format!("{a:.3}")).unwrap_or("-".into())
            );
            for n in &noises {
                let cell =
                    selected_delta(n, run, &t.spec.id).map(|s| signed_pct(s.0, s.1)).unwrap_or("-".into());
                let _ = write!(md, " {cell} |");
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "\nBase (no RGRL), val-selected test accuracy:");
        for n in &noises {
            let base =
                rows.iter().find(|r| r.noise == *n && r.run.name == *run).and_then(|r| base_row(p, rows, r));
            if let Some(b) = base {
                let _ = writeln!(
                    md,
                    "* {n}: {} ({}, {} seed{})",
                    b.selected.map(|s| pct(s.0, s.1)).unwrap_or("-".into()),
                    b.run.name,
                    b.results.len(),
                    if b.results.len() == 1 { "" } else { "s" }
                );
            }
        }
        let _ = writeln!(md);
        for n in &noises {
            let mut points = Vec::new();
            let mut marked = Vec::new();
            for t in teachers {
                let Some(agreement) = t.agreement else { continue };
                if let Some((m, s)) = selected_delta(n, run, &t.spec.id) {
                    if t.spec.synthetic_purity.is_some() {
                        points.push((agreement, m, s.unwrap_or(0.0)));
                    } else {
                        marked.push((agreement, m, s.unwrap_or(0.0)));
                    }
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let name = if rgrl_runs.len() > 1 { format!("{n} {run}") } else { n.to_string() };
            series.push(plots::SweepSeries { name, points, real_teacher: marked });
        }
    }
    // Clean-label reference: noise settings that changed no label.
    for (id, key) in input.noise {
        let a = store.find(Some("noise"), key)?;
        if a.manifest.metrics["actual_rate"].as_f64() == Some(0.0) {
            for r in rows.iter().filter(|r| r.noise == id && !r.run.rgrl) {
                let _ = writeln!(
                    md,
                    "Clean-label reference (`{id}`, no label changed): {} val-selected {}, last {}.\n",
                    r.run.name,
                    r.selected.map(|s| pct(s.0, s.1)).unwrap_or("-".into()),
                    pct(r.last.0, r.last.1)
                );
            }
        }
    }
    let files = plots::draw_sweep(input.out, &series)?;
    let _ = writeln!(
        md,
        "Sweep plot (Δ against the teacher's measured top-K agreement, error bars: std of the paired Δ; triangles: the teachers that are not synthetic, such as the RM or a run's classifier): {}\n",
        files.iter().map(|f| format!("[{f}]({f})")).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, rgrl: bool) -> RunSpec {
        RunSpec {
            name: name.into(),
            loss: "ce".into(),
            rgrl,
            args: vec![],
            base: None,
            init_from_rm: false,
            drop_flagged: false,
            noise: None,
            teachers: None,
            seeds: None,
        }
    }

    fn result(noise: &str, run: &RunSpec, seed: u64, best: f64, last: f64) -> RunResult {
        RunResult {
            noise: noise.into(),
            run: run.clone(),
            teacher: run.rgrl.then(|| "rm".to_string()),
            seed,
            key: format!("{seed:064}"),
            selected: Some(last + 0.01),
            selected_epoch: Some(2),
            best,
            last,
            minutes: 1.5,
            epochs: vec![],
        }
    }

    #[test]
    fn csv_numbers_are_rounded_to_six_decimals_without_float_noise() {
        let (mean, _) = mean_std(&[0.7476, 0.7552]);
        assert_eq!(mean.to_string(), "0.7514000000000001", "the noise this cell removes");
        assert_eq!(num_cell(mean), "0.7514");
        assert_eq!(num_cell(-0.006749999999999978), "-0.00675");
        assert_eq!(num_cell(1.0 / 3.0), "0.333333");
        assert_eq!(num_cell(0.0), "0");
        assert_eq!(num_cell(-1e-9), "0", "a rounded negative zero is written 0");
        assert_eq!(num_cell(12.0), "12");
        assert_eq!(opt_cell(None), "");
        assert_eq!(opt_cell(Some(0.25)), "0.25");
    }

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_std(&[0.5, 0.6, 0.7]);
        assert!((m - 0.6).abs() < 1e-12);
        assert!((s.unwrap() - 0.1).abs() < 1e-12, "sample std (n − 1): {s:?}");
        let (m, s) = mean_std(&[0.42]);
        assert_eq!((m, s), (0.42, None));
        assert_eq!(pct(0.6, Some(0.1)), "60.00 ± 10.00");
        assert_eq!(pct(0.5, None), "50.00");
    }

    #[test]
    fn rows_group_seeds_in_first_seen_order() {
        let (ce, rg) = (run("ce", false), run("ce+rgrl", true));
        let results = vec![
            result("sym-0.5", &rg, 1, 0.50, 0.48),
            result("sym-0.5", &ce, 1, 0.40, 0.38),
            result("sym-0.5", &rg, 2, 0.54, 0.50),
            result("sym-0.5", &ce, 2, 0.44, 0.40),
            result("asym-0.4", &ce, 1, 0.70, 0.69),
        ];
        let r = rows(&results);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].noise, r[0].run.name.as_str(), r[0].teacher, r[0].seeds()),
            ("sym-0.5", "ce+rgrl", Some("rm"), vec![1, 2])
        );
        assert!((r[0].best.0 - 0.52).abs() < 1e-12 && (r[0].last.0 - 0.49).abs() < 1e-12);
        assert!((r[0].best.1.unwrap() - 0.02 * 2f64.sqrt()).abs() < 1e-12);
        assert!((r[1].best.0 - 0.42).abs() < 1e-12);
        assert!((r[0].minutes - 3.0).abs() < 1e-12);
        assert_eq!(r[2].noise, "asym-0.4");
        assert_eq!(r[2].best.1, None);
    }

    #[test]
    fn deltas_are_paired_by_seed() {
        let p: Pipeline = toml::from_str(
            "description='x'\ndataset='cifar10'\nnoise=[]\nprofiles={}\n[[runs]]\nname='ce'\nloss='ce'\n[[runs]]\nname='ce+rgrl'\nloss='ce'\nrgrl=true\n",
        )
        .unwrap();
        let (ce, rg) = (run("ce", false), run("ce+rgrl", true));
        // Seed 3 of the RGRL run has no base run: it is left out of the paired Δ.
        let results = vec![
            result("n", &ce, 1, 0.40, 0.40),
            result("n", &ce, 2, 0.50, 0.50),
            result("n", &rg, 1, 0.43, 0.43),
            result("n", &rg, 2, 0.51, 0.51),
            result("n", &rg, 3, 0.90, 0.90),
        ];
        let r = rows(&results);
        let d = delta(&p, &r, &r[1]).unwrap();
        assert_eq!(d.base, "ce");
        assert!((d.last.0 - 0.02).abs() < 1e-12, "{d:?}");
        assert!((d.last.1.unwrap() - 0.0002f64.sqrt()).abs() < 1e-9, "per-seed Δ 0.03 and 0.01: {d:?}");
        assert!((d.selected.unwrap().0 - 0.02).abs() < 1e-12);
        assert!(delta(&p, &r, &r[0]).is_none(), "a base run has no Δ");
    }

    fn epoch(epoch: usize, val: Option<f64>, test: f64) -> EpochLog {
        EpochLog {
            epoch,
            lr: 0.1,
            loss: 1.0,
            base_loss: 1.0,
            node_loss: None,
            edge_loss: None,
            graph_loss: None,
            train_acc_noisy: 0.5,
            val_acc_noisy: val,
            test_acc: test,
            memorised: 0.0,
            corrected: 0.0,
            seconds: 1.0,
            images_per_s: 1.0,
        }
    }

    #[test]
    fn epoch_deltas_are_paired_by_seed_and_epoch() {
        let (ce, rg) = (run("ce", false), run("ce+rgrl", true));
        let with = |r: &RunSpec, seed: u64, curve: &[(f64, f64)]| RunResult {
            epochs: curve.iter().enumerate().map(|(e, &(v, t))| epoch(e + 1, Some(v), t)).collect(),
            ..result("n", r, seed, 0.0, 0.0)
        };
        let results = vec![
            with(&ce, 1, &[(0.30, 0.40), (0.40, 0.50)]),
            with(&ce, 2, &[(0.20, 0.30), (0.30, 0.40)]),
            with(&rg, 1, &[(0.34, 0.50), (0.40, 0.52)]),
            with(&rg, 2, &[(0.22, 0.34), (0.36, 0.40)]),
            // No base run of seed 3: left out.
            with(&rg, 3, &[(0.90, 0.90), (0.90, 0.90)]),
        ];
        let r = rows(&results);
        let d = epoch_deltas(&r[1], &r[0]);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].epoch, d[1].epoch, d[0].seeds), (1, 2, 2));
        assert!((d[0].val.unwrap() - 0.03).abs() < 1e-12 && (d[0].test - 0.07).abs() < 1e-12, "{d:?}");
        assert!((d[1].val.unwrap() - 0.03).abs() < 1e-12 && (d[1].test - 0.01).abs() < 1e-12, "{d:?}");
        // A run without a validation split has no Δ of validation accuracy.
        let mut no_val = results.clone();
        no_val[2].epochs[0].val_acc_noisy = None;
        let r = rows(&no_val);
        let d = epoch_deltas(&r[1], &r[0]);
        assert_eq!(d[0].val, None);
        assert!(d[1].val.is_some());
    }
}
