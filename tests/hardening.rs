//! Nothing outside the store is read, written or served through a crafted manifest, a
//! symlink or a pipeline id; flags a command cannot honour are not offered; impossible sizes
//! and contradictory pipelines are refused before any work; input files that are not regular
//! files are named as what they are. Each test reproduces one way this went wrong before.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `rmd-distill --profile smoke` on a noise artifact, with extra flags.
fn distill_smoke(store: &Path, noise_key: &str, extra: &[&str]) -> Output {
    run(bin("rmd-distill")
        .args(["--store", store.to_str().unwrap(), "--noise", noise_key, "--profile", "smoke"])
        .args(extra))
}

/// A small CIFAR-10 layout and a noise artifact in a store under `tmp`.
fn setup(tmp: &Path) -> (PathBuf, String) {
    write_small_cifar10(tmp, 40);
    let store = tmp.join("store");
    let key = ok_key(&noise(&store, tmp, &["--noise", "sym", "--rate", "0.4", "--seed", "2"]));
    (store, key)
}

#[test]
fn a_manifest_output_name_never_leads_outside_the_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let dir = store.join("noise").join(&key);
    // A host file outside the store, listed by a relative and by an absolute name with its
    // true hash and size, in place of the artifact's own files: verify used to hash it and
    // report ok, and export used to copy it into the bundle.
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, b"host file").unwrap();
    let digest = rmd_store::hash_file(&secret).unwrap();
    for name in ["../../../secret.txt".to_string(), secret.display().to_string()] {
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
        for f in m["outputs"].as_object().unwrap().keys() {
            let _ = std::fs::remove_file(dir.join(f));
        }
        m["outputs"] =
            serde_json::json!({ name.clone(): { "blake3": digest.blake3, "bytes": digest.bytes } });
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();

        let verify = rmd(&store, &["store", "verify"]);
        assert_eq!(verify.status.code(), Some(1), "{name}: {}", String::from_utf8_lossy(&verify.stdout));
        let report = String::from_utf8_lossy(&verify.stdout);
        assert!(report.contains("not a plain file name"), "{name}: {report}");
        let bundle = tmp.path().join("b.tar.gz");
        code2(&rmd(&store, &["store", "export", &key, bundle.to_str().unwrap()]), &["not a plain file name"]);
        assert!(!bundle.exists());
    }
}

#[test]
fn an_artifact_file_that_is_a_symlink_is_not_the_artifacts_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let labels = store.join("noise").join(&key).join("labels.parquet");
    // The same bytes, but outside the store behind a link: verify used to pass it.
    let outside = tmp.path().join("labels-copy.parquet");
    std::fs::copy(&labels, &outside).unwrap();
    std::fs::remove_file(&labels).unwrap();
    std::os::unix::fs::symlink(&outside, &labels).unwrap();
    let verify = rmd(&store, &["store", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("symbolic link"));
    let bundle = tmp.path().join("b.tar.gz");
    code2(&rmd(&store, &["store", "export", &key, bundle.to_str().unwrap()]), &["symbolic link"]);
    // Consumers refuse it as damaged, like any other changed file.
    code2(&distill_smoke(&store, &key, &[]), &["damaged", "symbolic link"]);
}

#[test]
fn written_files_never_follow_a_symlink_or_replace_a_special_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();

    // `store export F` wrote through `F.partial` when that was a symlink.
    let bundle = tmp.path().join("b.tar.gz");
    std::os::unix::fs::symlink(&victim, tmp.path().join("b.tar.gz.partial")).unwrap();
    let out = rmd(&store, &["store", "export", &key, bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");

    // An export onto a symlink (even a dangling one) is refused, and the link is left.
    let link = tmp.path().join("link.tar.gz");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &link).unwrap();
    let out = rmd(&store, &["store", "export", &key, link.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(!tmp.path().join("nowhere").exists());

    // A pipeline whose noise id would put a plot outside --out is refused before any stage.
    let pipeline = tmp.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "description='x'\ndataset='cifar10'\n[[noise]]\nid='../../escaped'\nargs=['--noise','sym','--rate','0.2']\n[[runs]]\nname='ce'\nloss='ce'\n[profiles.smoke]\nstage_profile='smoke'\n",
    )
    .unwrap();
    let out = rmd(&store, &["reproduce", pipeline.to_str().unwrap(), "--profile", "smoke", "--dry-run"]);
    code2(&out, &["line 4", "noise id \"../../escaped\""]);
}

#[test]
fn predictions_are_never_written_onto_a_fifo_device_or_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let clf = ok_key(&distill_smoke(&store, &key, &["--epochs", "1"]));
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    let link = tmp.path().join("p.parquet");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (target, what) in
        [(&link, "symbolic link"), (&fifo, "FIFO"), (&tmp.path().to_path_buf(), "directory")]
    {
        let out = rmd(&store, &["predict", "--classifier", &clf, "--out", target.to_str().unwrap()]);
        code2(&out, &[what, "refusing to replace it"]);
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo_like());
    // Nothing temporary is left beside them.
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn plan_is_offered_only_where_it_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    // `store gc --keep K --plan` deleted artifacts; no store verb has a plan mode.
    let before = rmd(&store, &["store", "list"]);
    for verb in [
        vec!["store", "gc", "--keep", &key, "--plan"],
        vec!["store", "verify", "--plan"],
        vec!["store", "export", &key, "x.tar.gz", "--plan"],
        vec!["predict", "--classifier", &key, "--out", "p.parquet", "--plan"],
        vec!["export", &key, "--out", "exported", "--plan"],
        vec!["--plan", "store", "list"],
    ] {
        let out = rmd(&store, &verb);
        code2(&out, &["--plan"]);
    }
    assert_eq!(rmd(&store, &["store", "list"]).stdout, before.stdout, "nothing deleted");
    assert!(!Path::new("x.tar.gz").exists() && !Path::new("exported").exists());
    // Where it is honoured it still answers with the key and computes nothing.
    let plan = run(bin("rmd")
        .args(["--store", store.to_str().unwrap(), "dataset", "cifar10", "--plan"])
        .args(["--data-dir", tmp.path().to_str().unwrap(), "--no-download"]));
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert_eq!(last_line(&plan).len(), 64);
}

#[test]
fn sizes_that_cannot_fit_are_refused_before_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let distill = |extra: &[&str]| distill_smoke(&store, &key, extra);
    // Widths that need terabytes used to abort inside an allocation (exit 134).
    code2(&distill(&["--arch", "small:100000:4:2"]), &["GiB", "--batch-size or --arch"]);
    code2(&distill(&["--batch-size", "100000000"]), &["GiB"]);
    let pretrain = run(bin("rmd-pretrain")
        .args(["--store", store.to_str().unwrap(), "--dataset", "cifar10", "--profile", "smoke"])
        .args(["--data-dir", tmp.path().to_str().unwrap(), "--no-download", "--batch-size", "100000000"]));
    code2(&pretrain, &["GiB"]);
    // A count larger than the data was cut silently under a key recording the larger count.
    code2(&distill(&["--images", "100000"]), &["--images 100000", "training images outside"]);
    code2(&distill(&["--test-images", "100000"]), &["--test-images 100000", "test images"]);
    assert!(
        !store.join("distill").exists() || std::fs::read_dir(store.join("distill")).unwrap().count() == 0
    );
}

#[test]
fn contradictory_pipelines_are_refused_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let pipeline = tmp.path().join("p.toml");
    let head = "description='x'\ndataset='cifar10'\n";
    let noise = "[[noise]]\nid='a'\nargs=['--noise','sym','--rate','0.2']\n";
    for (body, want) in [
        // A repeated seed was reported as two seeds with ± 0.00.
        (
            format!(
                "{noise}[[runs]]\nname='ce'\nloss='ce'\n[profiles.smoke]\nstage_profile='smoke'\nseeds=[1, 1]\n"
            ),
            "line 11: profile smoke: seed 1 is listed twice",
        ),
        (format!("runs=[]\n{noise}[profiles.smoke]\nstage_profile='smoke'\n"), "line 3: no runs"),
    ] {
        std::fs::write(&pipeline, format!("{head}{body}")).unwrap();
        let out = rmd(&store, &["reproduce", pipeline.to_str().unwrap(), "--profile", "smoke", "--dry-run"]);
        code2(&out, &[want, "p.toml"]);
    }
}

#[test]
fn input_files_that_are_not_regular_files_are_named_as_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    // "no such bundle file" for a directory, and a read that never ends for /dev/zero.
    code2(
        &rmd(&store, &["store", "import", tmp.path().to_str().unwrap()]),
        &["is a directory, not a regular file"],
    );
    code2(&rmd(&store, &["store", "import", "/dev/zero"]), &["is a device, not a regular file"]);
    // A label file that is a FIFO was reported as "not found".
    let fifo = tmp.path().join("labels.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = noise(
        &store,
        tmp.path(),
        &["--noise", "file", "--labels-file", fifo.to_str().unwrap(), "--label-column", "x"],
    );
    code2(&out, &["is a FIFO, not a regular file"]);
}

#[test]
fn the_command_list_is_one_short_line_each() {
    for args in [vec!["--help"], vec!["store", "--help"]] {
        let out = run(bin("rmd").args(&args));
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let list: Vec<&str> =
            text.lines().skip_while(|l| *l != "Commands:").skip(1).take_while(|l| !l.is_empty()).collect();
        assert!(list.len() >= 6, "{text}");
        for line in list {
            // A continuation line (long help wrapped into the list) starts with spaces only.
            assert!(line.split_whitespace().count() > 1 || line.trim() == "help", "{line:?} in:\n{text}");
            assert!(line.starts_with("  ") && !line.starts_with("   "), "wrapped line {line:?} in:\n{text}");
            assert!(line.len() <= 100, "{line:?}");
        }
    }
}

#[test]
fn a_bundle_cannot_write_more_than_its_manifests_declare() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let bundle = tmp.path().join("b.tar.gz");
    assert!(rmd(&store, &["store", "export", &key, bundle.to_str().unwrap()]).status.success());
    let big = vec![0u8; 64 << 20];
    // An unlisted entry of 64 MiB (a few kB compressed) was written into the store before
    // verification refused it; so was a listed entry larger than its manifest says.
    let unlisted = tmp.path().join("unlisted.tar.gz");
    let mut bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut bytes);
        let mut archive =
            tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap()));
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let mut h = e.header().clone();
            b.append_data(&mut h, &path, data.as_slice()).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(big.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("noise/{key}/filler.bin"), big.as_slice()).unwrap();
        b.finish().unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    std::fs::write(&unlisted, gz.finish().unwrap()).unwrap();
    let fresh = tmp.path().join("fresh");
    code2(
        &rmd(&fresh, &["store", "import", unlisted.to_str().unwrap()]),
        &["filler.bin is not listed in its artifact's manifest"],
    );

    let oversized = tmp.path().join("oversized.tar.gz");
    rewrite_bundle(&bundle, &oversized, |path, data| {
        if path.ends_with("labels.parquet") {
            data.extend_from_slice(&big);
        }
        true
    });
    code2(
        &rmd(&fresh, &["store", "import", oversized.to_str().unwrap()]),
        &["labels.parquet is", "but its manifest records"],
    );
    assert!(!fresh.join("noise").join(&key).exists());
}

#[test]
fn duplicate_or_missing_class_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_small_cifar10(tmp.path(), 4);
    let store = tmp.path().join("store");
    for (names, want) in [
        (
            "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ncat\n",
            "classes 3 and 9 have the same name \"cat\"",
        ),
        ("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\nNaN\n", "missing-value marker"),
    ] {
        std::fs::write(dir.join("batches.meta.txt"), names).unwrap();
        let out = run(bin("rmd")
            .args(["--store", store.to_str().unwrap(), "dataset", "cifar10", "--no-download"])
            .args(["--data-dir", tmp.path().to_str().unwrap()]));
        code2(&out, &["batches.meta.txt", want]);
    }
}

/// Flips one byte of `path` at `at` bytes from its end.
fn flip_byte(path: &Path, from_end: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() - from_end;
    bytes[i] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn consumers_refuse_what_verify_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let datasets: Vec<PathBuf> = std::fs::read_dir(store.join("dataset"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(datasets.len(), 1);
    let dataset = &datasets[0];
    // Altered training images whose manifest hash and size were rewritten to match: the
    // hashes agree, only the content check (images and labels against the key's content
    // hash) sees it. Verify refused it; the stages used to train on it.
    let images = dataset.join("train_images.u8");
    flip_byte(&images, 100);
    let digest = rmd_store::hash_file(&images).unwrap();
    let text = std::fs::read_to_string(dataset.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["outputs"]["train_images.u8"] = serde_json::json!({ "blake3": digest.blake3, "bytes": digest.bytes });
    std::fs::write(dataset.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();

    let verify = rmd(&store, &["store", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("another dataset's files"));
    code2(&distill_smoke(&store, &key, &[]), &["damaged", "another dataset's files"]);
    assert!(
        !store.join("distill").exists()
            || std::fs::read_dir(store.join("distill"))
                .unwrap()
                .all(|e| { e.unwrap().file_name().to_string_lossy().starts_with('.') })
    );

    // A file the manifest does not list is a verify problem, and so a consumer's.
    let (store2, key2) = {
        let t = tmp.path().join("second");
        std::fs::create_dir_all(&t).unwrap();
        setup(&t)
    };
    std::fs::write(store2.join("noise").join(&key2).join("extra.txt"), b"planted").unwrap();
    code2(&distill_smoke(&store2, &key2, &[]), &["damaged", "extra.txt: not listed in the manifest"]);
}

#[test]
fn a_damaged_checkpoint_is_refused_not_trained_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, key) = setup(tmp.path());
    let args = ["--store", store.to_str().unwrap(), "--noise", &key, "--profile", "smoke", "--epochs", "8"];
    let partial_checkpoints = || -> Vec<PathBuf> {
        std::fs::read_dir(store.join("distill"))
            .map(|d| {
                d.map(|e| e.unwrap().path().join("checkpoint").join("state.json"))
                    .filter(|p| p.to_string_lossy().contains(".partial-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut child = bin("rmd-distill")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = wait_for_checkpoint(&mut child, 2, partial_checkpoints);
    child.kill().unwrap();
    child.wait().unwrap();
    let checkpoint = state.parent().unwrap().to_path_buf();

    // One flipped bit in the weights: burn reads the record without complaint, and the run
    // used to train on and commit a classifier that no uninterrupted run produces.
    flip_byte(&checkpoint.join("model.bpk"), 64);
    let out = run(bin("rmd-distill").args(args).arg("--resume"));
    code2(&out, &["model.bpk", "content changed", "remove", "to start the run over"]);
    let committed = std::fs::read_dir(store.join("distill"))
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(committed, 0, "nothing was committed from the damaged checkpoint");
    flip_byte(&checkpoint.join("model.bpk"), 64);

    // The progress record is covered too: an edited epoch count is not believed.
    let saved_state = std::fs::read(&state).unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&saved_state).unwrap();
    record["epochs_done"] = serde_json::json!(7);
    std::fs::write(&state, serde_json::to_vec(&record).unwrap()).unwrap();
    code2(&run(bin("rmd-distill").args(args).arg("--resume")), &["state.json", "checksums.json"]);
    std::fs::write(&state, &saved_state).unwrap();

    // The optimizer's record replaced by the model's, with checksums.json rewritten to match:
    // every hash holds, but the record is not an optimizer's.
    let sums_path = checkpoint.join("checksums.json");
    let sums_before = std::fs::read(&sums_path).unwrap();
    std::fs::copy(checkpoint.join("model.bpk"), checkpoint.join("optim.bpk")).unwrap();
    let mut sums: serde_json::Value = serde_json::from_slice(&sums_before).unwrap();
    let model_sum = sums["model.bpk"].clone();
    sums["optim.bpk"] = model_sum;
    std::fs::write(&sums_path, serde_json::to_vec(&sums).unwrap()).unwrap();
    code2(&run(bin("rmd-distill").args(args).arg("--resume")), &["optim.bpk", "optimizer state tensors"]);

    // A checkpoint that is a file, not a directory: named, with what to do.
    let partial = checkpoint.parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(&checkpoint).unwrap();
    std::fs::write(&checkpoint, b"not a checkpoint").unwrap();
    code2(
        &run(bin("rmd-distill").args(args).arg("--resume")),
        &["checkpoint", "not the directory", "remove it"],
    );
    assert!(partial.exists());
}

#[test]
fn messages_name_the_problem_in_plain_words() {
    use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, types::Int8Type};
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    let data = tmp.path().to_str().unwrap();

    // An output directory that is a file: was "File exists (os error 17)" with exit 1.
    let file = tmp.path().join("taken");
    std::fs::write(&file, b"mine").unwrap();
    let out = run(bin("rmd-relations").args([
        "--store",
        store.to_str().unwrap(),
        "--data-dir",
        data,
        "--no-download",
        "--dataset",
        "cifar10",
        "--synthetic-purity",
        "0.9",
        "--k",
        "5",
        "--npy",
        file.to_str().unwrap(),
    ]));
    code2(&out, &["--npy", "taken", "a regular file, not a directory"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");

    // Class names as a categorical (dictionary) column, as pandas writes a `category`: read
    // as names. It was refused as "expected integers".
    let labels: DictionaryArray<Int8Type> =
        (0..200).map(|n| CIFAR10_NAMES[(n + usize::from(n % 7 == 0)) % 10]).collect();
    let batch = RecordBatch::try_from_iter(vec![("label", std::sync::Arc::new(labels) as ArrayRef)]).unwrap();
    let pq = tmp.path().join("labels.parquet");
    rmd_data::parquet_io::write_parquet(&pq, &batch, &Default::default()).unwrap();
    let out = noise(
        &store,
        tmp.path(),
        &["--noise", "file", "--labels-file", pq.to_str().unwrap(), "--label-column", "label"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A pickle whose labels are tuples: named in Python's words, not the decoder's.
    let raw = rmd_data::cifar::read_cifar10(&tmp.path().join("cifar-10-batches-bin")).unwrap();
    let py = tmp.path().join("cifar-10-batches-py");
    rmd_data::import::cifar_python::write::write_cifar_python(&raw, &py).unwrap();
    let meta = std::fs::read(py.join("batches.meta")).unwrap();
    // The label name 'airplane' (SHORT_BINSTRING: 'U', length, bytes) becomes the integer
    // 60 inside a 1-tuple (BININT1 60, TUPLE1).
    let needle = b"airplane";
    let at = meta.windows(needle.len()).position(|w| w == needle).unwrap();
    assert_eq!(&meta[at - 2..at], &[b'U', 8]);
    let mut edited = meta[..at - 2].to_vec();
    edited.extend([b'K', 60, b'\x85']);
    edited.extend(&meta[at + needle.len()..]);
    std::fs::write(py.join("batches.meta"), edited).unwrap();
    let out = run(bin("rmd")
        .args(["--store", store.to_str().unwrap(), "dataset", "--from", "cifar-python"])
        .arg(&py));
    let err = code2(&out, &["batches.meta", "holds the tuple (60,), not names"]);
    assert!(!err.contains("Tuple(") && !err.contains("I64("), "{err}");

    // An empty image list: said so, not "no column 'path' (columns: )".
    let empty = tmp.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let import_list = |list: &std::path::Path| {
        run(bin("rmd")
            .args(["--store", store.to_str().unwrap(), "dataset", "--from", "image-list"])
            .arg(list)
            .args(["--name", "mine"]))
    };
    let err = code2(&import_list(&empty), &["empty.csv", "no header line"]);
    assert!(!err.contains("(columns: )"), "{err}");

    // A Parquet image list whose path column is binary: named as such, not "expected integers".
    let paths = arrow_array::BinaryArray::from_vec(vec![b"a.png".as_slice(), b"b.png"]);
    let labels = arrow_array::StringArray::from(vec!["cat", "dog"]);
    let batch = RecordBatch::try_from_iter(vec![
        ("path", std::sync::Arc::new(paths) as ArrayRef),
        ("label", std::sync::Arc::new(labels) as ArrayRef),
    ])
    .unwrap();
    let binary = tmp.path().join("binary.parquet");
    rmd_data::parquet_io::write_parquet(&binary, &batch, &Default::default()).unwrap();
    let err = code2(&import_list(&binary), &["column 'path'", "neither text", "Binary"]);
    assert!(!err.contains("expected integers"), "{err}");
}
