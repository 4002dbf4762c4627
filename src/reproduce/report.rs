//! The report of a pipeline run: results table (Markdown and CSV) with the delta of each
//! RGRL run over its base, and the plots.

use super::pipeline::{NoiseSpec, Pipeline, RunSpec};
use super::plots;
use anyhow::Context;
use rmd_store::{Artifact, Store};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One epoch of an RGRL-stage run.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Clean test accuracy.
    pub test_acc: f64,
    /// Share of tracked flipped samples predicted as their noisy label.
    pub memorised: f64,
    /// Share predicted as their clean label.
    pub corrected: f64,
}

/// The outcome of one RGRL-stage artifact.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Noise id.
    pub noise: String,
    /// The run.
    pub run: RunSpec,
    /// Seed.
    pub seed: u64,
    /// Artifact key.
    pub key: String,
    /// Best test accuracy over epochs.
    pub best: f64,
    /// Last-epoch test accuracy.
    pub last: f64,
    /// Minutes the run took (its manifest's wall time).
    pub minutes: f64,
    /// Per-epoch curve.
    pub epochs: Vec<EpochRow>,
}

impl RunResult {
    /// Reads a distill artifact.
    pub fn read(
        store: &Path,
        key: &str,
        noise: &NoiseSpec,
        run: &RunSpec,
        seed: u64,
    ) -> anyhow::Result<RunResult> {
        let store = Store::open(store)?;
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
            seed,
            key: key.to_string(),
            best: num("best_test_acc")?,
            last: num("last_test_acc")?,
            minutes: m.wall_seconds / 60.0,
            epochs: read_epochs(&a)?,
        })
    }
}

fn read_epochs(a: &Artifact) -> anyhow::Result<Vec<EpochRow>> {
    let path = a.path("epochs.csv");
    let mut r = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (e, t, m, c) = (col("epoch")?, col("test_acc")?, col("memorised")?, col("corrected")?);
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let f = |i: usize| {
            rec[i].parse::<f64>().with_context(|| format!("{}: bad number {:?}", path.display(), &rec[i]))
        };
        rows.push(EpochRow { epoch: f(e)? as usize, test_acc: f(t)?, memorised: f(m)?, corrected: f(c)? });
    }
    Ok(rows)
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
    /// RM artifact key.
    pub encoder: &'a str,
    /// Relations artifact key.
    pub relations: &'a str,
    /// (noise id, noise key) in pipeline order.
    pub noise: &'a [(String, String)],
    /// Every RGRL-stage result.
    pub results: &'a [RunResult],
    /// Output directory.
    pub out: &'a Path,
    /// Wall seconds of the whole `reproduce` call.
    pub wall_seconds: f64,
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

/// One table row: a run of a noise setting over its seeds.
struct Row<'a> {
    noise: &'a str,
    run: &'a RunSpec,
    seeds: Vec<u64>,
    best: (f64, Option<f64>),
    last: (f64, Option<f64>),
    minutes: f64,
    keys: Vec<&'a str>,
}

fn rows<'a>(results: &'a [RunResult]) -> Vec<Row<'a>> {
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut groups: BTreeMap<(&str, &str), Vec<&RunResult>> = BTreeMap::new();
    for r in results {
        let k = (r.noise.as_str(), r.run.name.as_str());
        if !groups.contains_key(&k) {
            order.push(k);
        }
        groups.entry(k).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let g = &groups[&k];
            Row {
                noise: k.0,
                run: &g[0].run,
                seeds: g.iter().map(|r| r.seed).collect(),
                best: mean_std(&g.iter().map(|r| r.best).collect::<Vec<_>>()),
                last: mean_std(&g.iter().map(|r| r.last).collect::<Vec<_>>()),
                minutes: g.iter().map(|r| r.minutes).sum(),
                keys: g.iter().map(|r| r.key.as_str()).collect(),
            }
        })
        .collect()
}

/// Writes `results.md`, `results.csv` and the plots into `input.out`.
pub fn write_report(input: &ReportInput) -> anyhow::Result<()> {
    let out = input.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let store = Store::open(input.store)?;
    let p = input.pipeline;
    let rows = rows(input.results);
    let find = |noise: &str, name: &str| rows.iter().find(|r| r.noise == noise && r.run.name == name);
    let delta = |r: &Row| -> Option<(f64, f64, String)> {
        let base = p.base_of(r.run)?;
        let b = find(r.noise, &base.name)?;
        Some((r.best.0 - b.best.0, r.last.0 - b.last.0, base.name.clone()))
    };

    // Teacher quality, for reading the RGRL rows.
    let enc = store.find(Some("pretrain"), input.encoder)?;
    let rel = store.find(Some("relations"), input.relations)?;
    let metric = |a: &Artifact, k: &str| {
        a.manifest.metrics[k].as_f64().map(|v| format!("{v:.4}")).unwrap_or("-".into())
    };

    let mut md = String::new();
    let _ = writeln!(md, "# {}: {}\n", p.name, p.description);
    let _ = writeln!(
        md,
        "Profile `{}`; dataset `{}` [{}]; RM encoder [{}] (kNN accuracy {}); relations [{}] (neighbour label agreement {}, kNN accuracy {}). Test accuracy on the clean test set, in %. Δ is the run minus its base (same loss without RGRL). `rmd reproduce` wall time: {:.1} min.\n",
        input.profile,
        p.dataset,
        &input.dataset[..12],
        &input.encoder[..12],
        metric(&enc, "final_knn_acc"),
        &input.relations[..12],
        metric(&rel, "neighbour_label_agreement"),
        metric(&rel, "knn_acc"),
        input.wall_seconds / 60.0
    );
    let mut csv = String::from(
        "noise,run,base_loss,rgrl,extra_args,seeds,best_mean,best_std,last_mean,last_std,base_run,delta_best,delta_last,minutes,keys\n",
    );
    for (noise, noise_key) in input.noise {
        let _ = writeln!(md, "## Noise `{noise}` [{}]\n", &noise_key[..12]);
        let _ = writeln!(
            md,
            "| run | base loss | RGRL | seeds | best acc | last acc | Δ best | Δ last | minutes |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for r in rows.iter().filter(|r| r.noise == noise) {
            let d = delta(r);
            let fmt_d = |v: f64| format!("{:+.2}", 100.0 * v);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                r.run.name,
                r.run.loss,
                if r.run.rgrl { "on" } else { "off" },
                r.seeds.len(),
                pct(r.best.0, r.best.1),
                pct(r.last.0, r.last.1),
                d.as_ref().map(|d| fmt_d(d.0)).unwrap_or_default(),
                d.as_ref().map(|d| fmt_d(d.1)).unwrap_or_default(),
                r.minutes
            );
            let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            let _ = writeln!(
                csv,
                "{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{:.2},{}",
                r.noise,
                r.run.name,
                r.run.loss,
                r.run.rgrl,
                r.run.args.join(" "),
                r.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
                r.best.0,
                opt(r.best.1),
                r.last.0,
                opt(r.last.1),
                d.as_ref().map(|d| d.2.clone()).unwrap_or_default(),
                opt(d.as_ref().map(|d| d.0)),
                opt(d.as_ref().map(|d| d.1)),
                r.minutes,
                r.keys.join(" ")
            );
        }
        let _ = writeln!(md);
        let noise_art = store.find(Some("noise"), noise_key)?;
        let runs: Vec<&RunResult> = input.results.iter().filter(|r| &r.noise == noise).collect();
        let files = plots::draw_all(out, noise, &runs, &noise_art, &rel, &store)?;
        let _ = writeln!(
            md,
            "Plots: {}\n",
            files.iter().map(|f| format!("[{f}]({f})")).collect::<Vec<_>>().join(", ")
        );
    }
    std::fs::write(out.join("results.md"), md)
        .with_context(|| format!("writing {}", out.join("results.md").display()))?;
    std::fs::write(out.join("results.csv"), csv)
        .with_context(|| format!("writing {}", out.join("results.csv").display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, rgrl: bool) -> RunSpec {
        RunSpec { name: name.into(), loss: "ce".into(), rgrl, args: vec![], base: None }
    }

    fn result(noise: &str, run: &RunSpec, seed: u64, best: f64, last: f64) -> RunResult {
        RunResult {
            noise: noise.into(),
            run: run.clone(),
            seed,
            key: format!("{seed:064}"),
            best,
            last,
            minutes: 1.5,
            epochs: vec![],
        }
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
            (r[0].noise, r[0].run.name.as_str(), r[0].seeds.clone()),
            ("sym-0.5", "ce+rgrl", vec![1, 2])
        );
        assert!((r[0].best.0 - 0.52).abs() < 1e-12 && (r[0].last.0 - 0.49).abs() < 1e-12);
        assert!((r[0].best.1.unwrap() - 0.02 * 2f64.sqrt()).abs() < 1e-12);
        assert!((r[1].best.0 - 0.42).abs() < 1e-12);
        assert!((r[0].minutes - 3.0).abs() < 1e-12);
        assert_eq!(r[2].noise, "asym-0.4");
        assert_eq!(r[2].best.1, None);
    }
}
