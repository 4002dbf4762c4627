//! `rmd bench-step`: the step timer users and the GPU check run, through the binary.

mod common;

use common::{bin, run, stderr};

#[test]
fn both_steps_report_rates_as_text_and_json() {
    let out = run(bin("rmd").args(["bench-step", "--profile", "smoke", "--steps", "2", "--warmup", "1"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with(
            "simsiam smoke (ResNet widths [8, 16] blocks [1, 1], stem stride 2) batch 64 on flex"
        ),
        "{line}"
    );
    assert!(line.contains("model step median") && line.contains("img/s"), "{line}");

    let out = run(bin("rmd").args([
        "bench-step",
        "--objective",
        "supervised",
        "--profile",
        "smoke",
        "--batch",
        "8",
        "--steps",
        "3",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["objective"], "supervised");
    assert_eq!(v["batch"], 8);
    assert_eq!(v["steps"], 3);
    let rate = &v["model_img_per_s"];
    let (min, median, max) =
        (rate["min"].as_f64().unwrap(), rate["median"].as_f64().unwrap(), rate["max"].as_f64().unwrap());
    assert!(0.0 < min && min <= median && median <= max, "{v}");
}

#[test]
fn bad_requests_are_usage_errors() {
    let out = run(bin("rmd").args(["bench-step", "--steps", "0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--steps"), "{}", stderr(&out));
    // A batch no machine holds is refused with the numbers before anything is allocated
    // (it aborted with exit 134).
    for objective in ["supervised", "simsiam"] {
        let out = run(bin("rmd").args([
            "bench-step",
            "--objective",
            objective,
            "--batch",
            "4000000000",
            "--steps",
            "1",
        ]));
        assert_eq!(out.status.code(), Some(2), "{objective}: {}", stderr(&out));
        assert!(stderr(&out).contains("GiB") && stderr(&out).contains("--batch-size"), "{}", stderr(&out));
    }
    if !cfg!(feature = "wgpu") {
        let out = run(bin("rmd").args(["bench-step", "--backend", "wgpu"]));
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("--features wgpu"), "{}", stderr(&out));
    }
}
