//! End-to-end tests of `rmd reproduce` with the shipped pipelines' smoke profile on a small
//! CIFAR-10-layout dataset.

mod common;

use common::reproduce_cmd as reproduce;
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed ({:?}): {}", out.status.code(), stderr(out));
    stderr(out)
}

fn count(store: &Path, stage: &str) -> usize {
    std::fs::read_dir(store.join(stage))
        .map(|rd| {
            rd.filter_map(|e| e.ok()).filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count()
        })
        .unwrap_or(0)
}

fn manifest_of(store: &Path, key: &str) -> serde_json::Value {
    let out = run(bin("rmd").args(["--store", store.to_str().unwrap(), "store", "show", key]));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The results CSV as a list of column → value maps (read with a CSV parser, not by
/// matching substrings).
mod csv_row {
    pub type Row = std::collections::BTreeMap<String, String>;

    pub fn parse(text: &str) -> Vec<Row> {
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        rdr.records()
            .map(|r| header.iter().cloned().zip(r.unwrap().iter().map(String::from)).collect())
            .collect()
    }
}

#[test]
fn smoke_pipeline_runs_reports_and_is_fully_cached_on_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");

    let dry = ok(&run(&mut reproduce(
        &store,
        tmp.path(),
        &out,
        &["cifar10-asym", "--profile", "smoke", "--dry-run"],
    )));
    assert!(dry.contains("plan: 0 cached, 7 to run"), "{dry}");
    assert_eq!(count(&store, "pretrain") + count(&store, "distill"), 0, "a dry run trains nothing");

    let first = run(&mut reproduce(&store, tmp.path(), &out, &["cifar10-asym", "--profile", "smoke"]));
    let log = ok(&first);
    assert!(log.contains("[7/7] done"), "{log}");
    assert_eq!(count(&store, "distill"), 4);
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for row in [
        "| ce |  | ce | off |",
        "| ce+rgrl | rm | ce | on |",
        "| gce |  | gce | off |",
        "| gce+rgrl | rm | gce | on |",
    ] {
        assert!(md.contains(row), "{row} missing in\n{md}");
    }
    assert!(String::from_utf8_lossy(&first.stdout).contains("| ce+rgrl |"), "the table is printed");
    // The Markdown table names the run each Δ is taken over.
    let header = md.lines().find(|l| l.starts_with("| run |")).unwrap();
    let over = header.split('|').position(|c| c.trim() == "Δ over").expect("a Δ over column");
    let cell = |prefix: &str| {
        let line = md.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.split('|').nth(over).unwrap().trim().to_string()
    };
    assert_eq!(cell("| ce+rgrl | rm |"), "ce");
    assert_eq!(cell("| ce |  |"), "", "a base run is compared with nothing");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // Δ columns are exactly the run's means minus its base run's means.
    let table: Vec<csv_row::Row> = csv_row::parse(&csv);
    let get = |run: &str| table.iter().find(|r| r["noise"] == "asym-0.4" && r["run"] == run).unwrap();
    let num = |r: &csv_row::Row, c: &str| r[c].parse::<f64>().unwrap_or_else(|_| panic!("{c}: {:?}", r[c]));
    let (rgrl, base) = (get("ce+rgrl"), get("ce"));
    assert_eq!(rgrl["base_run"], "ce");
    assert_eq!(base["base_run"], "", "a base run has no base");
    // The CSV writes numbers rounded to 6 decimals: each cell is within half a millionth of
    // the figure it stands for.
    const CELL: f64 = 5e-7 + 1e-12;
    for col in ["best_on_test", "last", "val_selected"] {
        let d = num(rgrl, &format!("delta_{col}"));
        assert!(
            (d - (num(rgrl, &format!("{col}_mean")) - num(base, &format!("{col}_mean")))).abs() <= 3.0 * CELL,
            "{col}"
        );
    }
    // Each mean is the manifest's figure of the run's one seed.
    let m = manifest_of(&store, rgrl["keys"].split(' ').next().unwrap());
    for (col, metric) in [
        ("best_on_test_mean", "best_test_acc"),
        ("last_mean", "last_test_acc"),
        ("val_selected_mean", "val_selected_test_acc"),
    ] {
        let want = m["metrics"][metric].as_f64().unwrap();
        assert!((num(rgrl, col) - want).abs() <= CELL, "{col}: {} vs {want}", rgrl[col]);
        assert!(rgrl[col].split('.').nth(1).is_none_or(|d| d.len() <= 6), "{col}: {}", rgrl[col]);
    }
    assert_eq!(rgrl["val_selected_epochs"], m["metrics"]["val_selected_epoch"].to_string());
    // The per-epoch Δ of each run with a base, as in its and its base's epochs.csv.
    let by_epoch = csv_row::parse(&std::fs::read_to_string(out.join("deltas-by-epoch.csv")).unwrap());
    let epochs_of = |r: &csv_row::Row| {
        let m = manifest_of(&store, r["keys"].trim());
        let dir = store.join("distill").join(m["key"].as_str().unwrap());
        csv_row::parse(&std::fs::read_to_string(dir.join("epochs.csv")).unwrap())
    };
    let (run_epochs, base_epochs) = (epochs_of(rgrl), epochs_of(base));
    let rows: Vec<&csv_row::Row> =
        by_epoch.iter().filter(|r| r["noise"] == "asym-0.4" && r["run"] == "ce+rgrl").collect();
    assert_eq!(rows.len(), run_epochs.len(), "{by_epoch:?}");
    for (r, (a, b)) in rows.iter().zip(run_epochs.iter().zip(&base_epochs)) {
        assert_eq!((r["base_run"].as_str(), r["seeds"].as_str(), &r["epoch"]), ("ce", "1", &a["epoch"]));
        for (col, of) in [("delta_test_acc", "test_acc"), ("delta_val_acc_noisy", "val_acc_noisy")] {
            let want = num(a, of) - num(b, of);
            assert!((num(r, col) - want).abs() <= CELL, "{col}: {r:?}");
        }
    }
    // A run's minutes are its epochs' seconds (what a resumed run spent in every attempt),
    // recorded in its manifest's metrics (epochs.csv holds no wall-clock column).
    let m = manifest_of(&store, rgrl["keys"].trim());
    let seconds: f64 =
        m["metrics"]["epoch_seconds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert_eq!(m["metrics"]["epoch_seconds"].as_array().unwrap().len(), run_epochs.len());
    assert!((num(rgrl, "minutes") - seconds / 60.0).abs() < 0.006, "{rgrl:?} vs {seconds} s");
    for stem in ["accuracy", "memorisation", "transition", "embeddings", "delta"] {
        let png = std::fs::read(out.join(format!("{stem}-asym-0.4.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{stem}");
        let svg = std::fs::read_to_string(out.join(format!("{stem}-asym-0.4.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}");
    }

    // The rerun plans everything as cached and runs no stage.
    let started = Instant::now();
    let again = ok(&run(&mut reproduce(&store, tmp.path(), &out, &["cifar10-asym", "--profile", "smoke"])));
    assert!(again.contains("plan: 7 cached, 0 to run"), "{again}");
    assert!(!again.contains("[1/"), "{again}");
    eprintln!("fully cached rerun: {:.1} s", started.elapsed().as_secs_f64());

    // Another pipeline of the same dataset reuses the RM and relations artifacts.
    let sym = ok(&run(&mut reproduce(
        &store,
        tmp.path(),
        &out,
        &["cifar10-sym", "--profile", "smoke", "--dry-run"],
    )));
    let line = |stage: &str| sym.lines().find(|l| l.trim_start().starts_with(stage)).unwrap().to_string();
    assert!(line("pretrain").contains("cached"), "{sym}");
    assert!(line("relations").contains("cached"), "{sym}");
    assert!(line("noise").contains("run"), "{sym}");

    // --force reruns one stage and leaves the others cached.
    let forced = ok(&run(&mut reproduce(
        &store,
        tmp.path(),
        &out,
        &["cifar10-asym", "--profile", "smoke", "--force", "relations"],
    )));
    assert!(forced.contains("[1/1] rmd-relations"), "{forced}");
    // -q reaches the stages it runs: nothing on stderr, the same report.
    let quiet = ok(&run(&mut reproduce(
        &store,
        tmp.path(),
        &out,
        &["cifar10-asym", "--profile", "smoke", "--force", "relations", "-q"],
    )));
    assert_eq!(quiet, "", "nothing on stderr with -q");
}

#[test]
fn missing_dataset_stops_before_any_training_with_instructions() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&mut reproduce(&store, &empty, &tmp.path().join("r"), &["cifar100-asym"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cifar-100-binary.tar.gz"), "{}", stderr(&out));
    assert_eq!(count(&store, "pretrain") + count(&store, "noise"), 0);

    let bad = run(&mut reproduce(&store, &empty, &tmp.path().join("r"), &["cifar10-asymm"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("known: ") && stderr(&bad).contains("cifar10-asym"), "{}", stderr(&bad));
}

#[test]
#[ignore = "needs the real CIFAR-10 and CIFAR-10N in RMD_DATA_DIR; `just test` runs it when the data is there"]
fn cifar10n_worse_pipeline_reads_its_label_file_from_the_data_directory() {
    let data = real_data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = tmp.path().join("r");
    let dry = || {
        ok(&run(&mut reproduce(&store, &data, &out, &["cifar10n-worse", "--profile", "smoke", "--dry-run"])))
    };
    let noise_line =
        |plan: &str| plan.lines().find(|l| l.trim_start().starts_with("noise")).unwrap().to_string();
    let before = noise_line(&dry());
    assert!(before.contains("run"), "{before}");
    // The same label file given by hand gives the key the pipeline plans...
    let labels = data.join("cifar-10n/cifar10n_labels.csv");
    let key = ok_key(&run(bin("rmd-noise")
        .args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"])
        .args(["--dataset", "cifar10", "--noise", "file", "--label-column", "worse_label"])
        .args(["--labels-file", labels.to_str().unwrap()])));
    assert!(before.contains(&key[..12]), "planned {before}, by hand {key}");
    // ...and the pipeline then finds it cached.
    let after = noise_line(&dry());
    assert!(after.contains("cached") && after.contains(&key[..12]), "{after}");
}

#[test]
fn teacher_sweep_runs_every_teacher_and_reports_the_gain_against_purity() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let log =
        ok(&run(&mut reproduce(&store, tmp.path(), &out, &["cifar10-teacher-sweep", "--profile", "smoke"])));
    // Two noise settings; CE under both, CE+RGRL (three teachers) and the confidence-weighted
    // run (limited to the RM teacher) only under sym-0.5; two seeds.
    assert_eq!(count(&store, "distill"), 2 * 2 + 3 * 2 + 2, "{log}");
    assert_eq!(count(&store, "relations"), 3, "{log}");
    assert_eq!(count(&store, "pretrain"), 1, "the RM teacher needs the RM stage");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let table = csv_row::parse(&csv);
    let rows: Vec<_> = table.iter().filter(|r| r["run"] == "ce+rgrl").collect();
    let mut teachers: Vec<&str> = rows.iter().map(|r| r["teacher"].as_str()).collect();
    teachers.sort_unstable();
    assert_eq!(teachers, ["rm", "synthetic-0.5", "synthetic-1.0"]);
    let conf: Vec<&str> =
        table.iter().filter(|r| r["run"] == "ce+rgrl+conf").map(|r| r["teacher"].as_str()).collect();
    assert_eq!(conf, ["rm"], "a run limited to one teacher");
    assert!(table.iter().any(|r| r["noise"] == "clean" && r["run"] == "ce"), "{csv}");
    assert!(
        !table.iter().any(|r| r["noise"] == "clean" && r["run"] == "ce+rgrl"),
        "limited to noisy settings"
    );
    for r in &table {
        assert_eq!(r["seeds"], "1 2", "{r:?}");
        assert!(r["val_selected_mean"].parse::<f64>().is_ok(), "val-selected accuracy: {r:?}");
    }
    // Δ val-selected is the mean of the per-seed differences with the CE run of the same seed.
    let base = table.iter().find(|r| r["noise"] == "sym-0.5" && r["run"] == "ce").unwrap();
    let rg = rows.iter().find(|r| r["teacher"] == "synthetic-1.0").unwrap();
    let per_seed = |row: &csv_row::Row| -> Vec<f64> {
        row["keys"]
            .split(' ')
            .map(|k| manifest_of(&store, k)["metrics"]["val_selected_test_acc"].as_f64().unwrap())
            .collect()
    };
    let (a, b) = (per_seed(rg), per_seed(base));
    let want = ((a[0] - b[0]) + (a[1] - b[1])) / 2.0;
    let got: f64 = rg["delta_val_selected"].parse().unwrap();
    assert!((got - want).abs() <= 5e-7 + 1e-12, "Δ {got} vs paired mean {want} (6 decimals)");
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("Teacher sweep") && md.contains("built from clean labels"), "{md}");
    assert!(md.contains("Clean-label reference"), "{md}");
    assert_eq!(&std::fs::read(out.join("sweep.png")).unwrap()[..4], b"\x89PNG");
    assert!(std::fs::read_to_string(out.join("sweep.svg")).unwrap().contains("<svg"));
}

#[test]
fn an_interrupted_reproduce_resumes_the_rm_stage_from_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let pipeline = tmp.path().join("resume.toml");
    std::fs::write(
        &pipeline,
        "description = 'resume check'\ndataset = 'cifar10'\n\
         [[noise]]\nid = 'sym'\nargs = ['--noise', 'sym', '--rate', '0.5', '--seed', '1']\n\
         [[runs]]\nname = 'ce+rgrl'\nloss = 'ce'\nrgrl = true\n\
         [profiles.smoke]\nstage_profile = 'smoke'\nargs = { pretrain = ['--epochs', '12'] }\n",
    )
    .unwrap();
    let path = pipeline.to_str().unwrap();
    let mut child = reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the RM stage's second checkpoint.
    let state = wait_for_checkpoint(&mut child, 2, || {
        std::fs::read_dir(store.join("pretrain"))
            .map(|rd| {
                rd.filter_map(|e| e.ok()).map(|e| e.path().join("checkpoint").join("state.json")).collect()
            })
            .unwrap_or_default()
    });
    // Kill the stage it runs and the orchestrator, as a terminal's Ctrl-C would stop both.
    let pid = child.id();
    // Any of its threads may have spawned the stage (it runs on a pool thread).
    let children: String = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    for c in children.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", c]).status();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let partial = state.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(partial.join("checkpoint").is_dir(), "the checkpoint survives the interruption");

    let log = ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke"])));
    assert!(log.contains("resuming after epoch"), "{log}");
    assert_eq!(count(&store, "pretrain"), 1, "{log}");
    assert_eq!(count(&store, "distill"), 1, "{log}");
}

/// A run's `args` come after the profile's and win (the stages take the last of a repeated
/// flag), `seeds` limits a run to some of the profile's seeds, and a run that names itself
/// as its base is compared with nothing.
#[test]
fn run_args_override_the_profile_and_run_seeds_limit_the_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let pipeline = tmp.path().join("limits.toml");
    std::fs::write(
        &pipeline,
        "description = 'limits'\ndataset = 'cifar10'\n\
         [[noise]]\nid = 'sym'\nargs = ['--noise', 'sym', '--rate', '0.5', '--seed', '1']\n\
         [[runs]]\nname = 'ce'\nloss = 'ce'\n\
         [[runs]]\nname = 'ce-long'\nloss = 'ce'\nbase = 'ce-long'\nargs = ['--epochs', '3']\nseeds = [2]\n\
         [profiles.smoke]\nstage_profile = 'smoke'\nseeds = [1, 2]\nargs = { distill = ['--epochs', '1'] }\n",
    )
    .unwrap();
    let path = pipeline.to_str().unwrap();
    ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke"])));
    assert_eq!(count(&store, "distill"), 3, "ce for seeds 1 and 2, ce-long for seed 2 only");
    let rows = csv_row::parse(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    let long = rows.iter().find(|r| r["run"] == "ce-long").unwrap();
    assert_eq!(long["seeds"], "2");
    assert_eq!(long["base_run"], "", "compared with nothing");
    assert_eq!(long["delta_val_selected"], "");
    let epochs = |key: &str| manifest_of(&store, key)["params"]["epochs"].as_u64().unwrap();
    assert_eq!(epochs(long["keys"].trim()), 3, "the run's --epochs wins");
    let ce = rows.iter().find(|r| r["run"] == "ce").unwrap();
    assert_eq!(ce["seeds"], "1 2");
    for key in ce["keys"].split_whitespace() {
        assert_eq!(epochs(key), 1, "the profile's --epochs");
    }
}

/// A prune-and-retrain run (`drop_flagged = true` in cifar10-sym's smoke profile): the plan
/// has the label-issues stage, the run trains without the flagged samples and is compared
/// with plain CE.
#[test]
fn a_pruning_run_finds_the_label_issues_first_and_drops_them() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let log = ok(&run(&mut reproduce(&store, tmp.path(), &out, &["cifar10-sym", "--profile", "smoke"])));
    let plan_line = log.lines().find(|l| l.trim_start().starts_with("label-issues")).unwrap_or_default();
    assert!(plan_line.contains("sym-0.5 flagged by teacher rm"), "{log}");
    assert_eq!(count(&store, "label-issues"), 1);
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let table: Vec<csv_row::Row> = csv_row::parse(&csv);
    let prune = table.iter().find(|r| r["run"] == "prune").expect("a prune row");
    assert_eq!(prune["base_run"], "ce");
    let m = manifest_of(&store, prune["keys"].split(' ').next().unwrap());
    assert!(m["inputs"]["drop_flagged"].is_string(), "{}", m["inputs"]);
    assert!(m["metrics"]["pruned"]["dropped_from_training"].as_u64().unwrap() > 0, "{}", m["metrics"]);
}

/// `--cached-only` writes the table of what the store has and computes nothing: a profile
/// whose second run never ran reports the first and lists the second as pending.
#[test]
fn cached_only_reports_the_runs_in_the_store_and_lists_the_rest_as_pending() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let pipeline = tmp.path().join("partial.toml");
    std::fs::write(
        &pipeline,
        "description = 'partial'\ndataset = 'cifar10'\n\
         [[noise]]\nid = 'sym'\nargs = ['--noise', 'sym', '--rate', '0.5', '--seed', '1']\n\
         [[runs]]\nname = 'ce'\nloss = 'ce'\n\
         [[runs]]\nname = 'ce-long'\nloss = 'ce'\nbase = 'ce-long'\nargs = ['--epochs', '2']\n\
         [profiles.first]\nstage_profile = 'smoke'\nruns = ['ce']\nseeds = [1, 2]\nargs = { distill = ['--epochs', '1'] }\n\
         [profiles.both]\nstage_profile = 'smoke'\nseeds = [1, 2]\nargs = { distill = ['--epochs', '1'] }\n",
    )
    .unwrap();
    let path = pipeline.to_str().unwrap();
    ok(&run(&mut reproduce(&store, tmp.path(), &tmp.path().join("first"), &[path, "--profile", "first"])));
    assert_eq!(count(&store, "distill"), 2);

    let out = tmp.path().join("partial");
    let log =
        ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "both", "--cached-only"])));
    assert!(log.contains("plan: 3 cached, 2 to run"), "{log}");
    assert!(log.contains("report leaves out the 2 planned artifacts"), "{log}");
    assert_eq!(count(&store, "distill"), 2, "nothing trained: {log}");
    let rows = csv_row::parse(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["run"].as_str(), rows[0]["seeds"].as_str()), ("ce", "1 2"));
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("**Partial report**"), "{md}");
    assert!(md.contains("nothing was computed for it") && !md.contains("wall time"), "{md}");
    for seed in [1, 2] {
        assert!(md.contains(&format!("* distill sym ce-long seed {seed}\n")), "{md}");
    }

    let both = ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "both"])));
    assert!(both.contains("plan: 3 cached, 2 to run"), "{both}");
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(!md.contains("Partial report"), "a complete report says nothing of pending runs: {md}");
    assert!(md.contains("`rmd reproduce` wall time"), "{md}");
    assert_eq!(csv_row::parse(&std::fs::read_to_string(out.join("results.csv")).unwrap()).len(), 2);

    let clash = run(&mut reproduce(
        &store,
        tmp.path(),
        &out,
        &[path, "--profile", "both", "--cached-only", "--dry-run"],
    ));
    assert_eq!(clash.status.code(), Some(2), "{}", stderr(&clash));
}

/// A teacher built from a run's classifier (`from_run`): the plan trains that run first even
/// though the RGRL run that uses it is listed before it, the relations artifact takes the
/// classifier as its input, and the report names the teacher's kind.
#[test]
fn a_teacher_from_a_run_is_trained_before_the_runs_that_use_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let pipeline = tmp.path().join("second-round.toml");
    std::fs::write(
        &pipeline,
        "description = 'second round'\ndataset = 'cifar10'\n\
         [[noise]]\nid = 'sym'\nargs = ['--noise', 'sym', '--rate', '0.5', '--seed', '1']\n\
         [[teachers]]\nid = 'ce-net'\nfrom_run = { run = 'ce', noise = 'sym', seed = 1 }\n\
         [[runs]]\nname = 'ce+rgrl'\nloss = 'ce'\nrgrl = true\nbase = 'ce'\n\
         [[runs]]\nname = 'prune'\nloss = 'ce'\ndrop_flagged = true\nbase = 'ce'\n\
         [[runs]]\nname = 'ce'\nloss = 'ce'\n\
         [profiles.smoke]\nstage_profile = 'smoke'\nargs = { distill = ['--epochs', '1', '--batch-size', '16'] }\n",
    )
    .unwrap();
    let path = pipeline.to_str().unwrap();
    let dry = ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke", "--dry-run"])));
    let order: Vec<&str> = dry
        .lines()
        .map(str::trim_start)
        .filter(|l| ["relations", "label-issues", "distill"].iter().any(|s| l.starts_with(s)))
        .collect();
    assert_eq!(order.len(), 5, "{dry}");
    assert!(order[0].contains("sym ce seed 1"), "the source run first: {dry}");
    assert!(order[1].contains("teacher ce-net"), "then its relations: {dry}");
    assert!(order[2].contains("flagged by teacher ce-net"), "then its label issues: {dry}");
    assert!(order[3].contains("ce+rgrl @ce-net"), "then the runs that use them: {dry}");
    assert!(order[4].contains("sym prune seed 1"), "{dry}");
    assert_eq!(count(&store, "pretrain"), 0);

    ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke"])));
    assert_eq!(count(&store, "pretrain"), 0, "a classifier teacher needs no RM");
    let rows = csv_row::parse(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    let ce = rows.iter().find(|r| r["run"] == "ce").unwrap();
    let rgrl = rows.iter().find(|r| r["run"].starts_with("ce+rgrl")).unwrap();
    let student = manifest_of(&store, rgrl["keys"].trim());
    let relations = manifest_of(&store, student["inputs"]["relations"].as_str().unwrap());
    let classifier = relations["inputs"]["classifier"].as_str().unwrap_or_default();
    assert!(
        !ce["keys"].trim().is_empty() && classifier.starts_with(ce["keys"].trim()),
        "{}",
        relations["inputs"]
    );
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("classifier of run ce (sym, seed 1)"), "{md}");
}

/// A per-student teacher (`from_run` with `noise = "student"`, `seed = "student"`): each seed
/// of the RGRL run learns from the classifier of its own seed, so the seeds stay independent
/// replicates of the two-round procedure; the report lists one teacher artifact per seed.
#[test]
fn each_student_learns_from_the_classifier_of_its_own_seed() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_cifar10(tmp.path(), 60);
    let store = tmp.path().join("store");
    let out = tmp.path().join("report");
    let pipeline = tmp.path().join("own-teacher.toml");
    std::fs::write(
        &pipeline,
        "description = 'own teacher'\ndataset = 'cifar10'\n\
         [[noise]]\nid = 'sym'\nargs = ['--noise', 'sym', '--rate', '0.5', '--seed', '1']\n\
         [[teachers]]\nid = 'ce-net'\nfrom_run = { run = 'ce', noise = 'student', seed = 'student' }\n\
         [[runs]]\nname = 'ce+rgrl'\nloss = 'ce'\nrgrl = true\nbase = 'ce'\n\
         [[runs]]\nname = 'ce'\nloss = 'ce'\nseeds = [1, 2]\n\
         [profiles.smoke]\nstage_profile = 'smoke'\nseeds = [1, 2]\nargs = { distill = ['--epochs', '1', '--batch-size', '16'] }\n\
         [profiles.three]\nstage_profile = 'smoke'\nseeds = [3]\n",
    )
    .unwrap();
    let path = pipeline.to_str().unwrap();
    let dry = ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke", "--dry-run"])));
    let relations: Vec<&str> =
        dry.lines().map(str::trim_start).filter(|l| l.starts_with("relations")).collect();
    assert_eq!(relations.len(), 2, "one teacher per seed: {dry}");
    assert!(
        relations[0].contains("teacher ce-net[sym s1]") && relations[1].contains("teacher ce-net[sym s2]"),
        "{dry}"
    );

    ok(&run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "smoke"])));
    let rows = csv_row::parse(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    let ce = rows.iter().find(|r| r["run"] == "ce").unwrap();
    let rgrl = rows.iter().find(|r| r["run"] == "ce+rgrl").unwrap();
    assert_eq!((rgrl["teacher"].as_str(), rgrl["seeds"].as_str()), ("ce-net", "1 2"), "{rgrl:?}");
    let ce_keys: Vec<&str> = ce["keys"].split(' ').collect();
    for (seed, student) in rgrl["keys"].split(' ').enumerate() {
        let m = manifest_of(&store, student);
        let relations = manifest_of(&store, m["inputs"]["relations"].as_str().unwrap());
        let classifier = relations["inputs"]["classifier"].as_str().unwrap_or_default();
        assert!(
            classifier.starts_with(ce_keys[seed]),
            "seed {}: {} vs {ce_keys:?}",
            seed + 1,
            relations["inputs"]
        );
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for seed in [1, 2] {
        assert!(md.contains(&format!("classifier of run ce (sym, seed {seed})")), "{md}");
    }

    // A profile that does not train the student's own source run is refused before anything
    // runs, naming the run, noise and seed.
    let err = run(&mut reproduce(&store, tmp.path(), &out, &[path, "--profile", "three", "--dry-run"]));
    assert_eq!(err.status.code(), Some(2), "{}", stderr(&err));
    assert!(
        stderr(&err)
            .contains("classifier of run 'ce' (noise 'sym', seed 3), which this profile does not train"),
        "{}",
        stderr(&err)
    );
}
