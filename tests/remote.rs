//! Remotes end to end through the binaries: two stores standing for two machines sharing a
//! folder remote, an S3-compatible server (s3s-fs, which honours conditional writes) and a
//! static web server (Python's http.server) on the loopback address, with the faults a
//! shared remote meets: a changed object, wrong credentials, a missing bucket, an
//! unreachable host, two pushes at once.

mod common;

use common::reproduce_cmd as reproduce;
use common::*;
use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed ({:?}): {}", out.status.code(), stderr(out));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out))
}

fn store_cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = bin("rmd");
    c.args(["--store", store.to_str().unwrap(), "store"]).args(args);
    c
}

fn verify_ok(store: &Path) {
    let out = run(&mut store_cmd(store, &["verify"]));
    assert!(
        out.status.success(),
        "store verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, child: &mut Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A static web server over `dir` (Python's http.server: GET and HEAD, no listing API).
fn web_server(dir: &Path) -> (Server, String) {
    let port = free_port().to_string();
    let args = ["-m", "http.server", &port, "--bind", "127.0.0.1", "--directory"].map(OsStr::new);
    python_server(&[&args[..], &[dir.as_os_str()]].concat(), "http")
}

/// Starts `python3 ARGS`, a server whose port is the third argument, and waits until it
/// listens: the server and its URL (`scheme://127.0.0.1:port`).
fn python_server(args: &[&OsStr], scheme: &str) -> (Server, String) {
    let port: u16 = args[2].to_str().and_then(|p| p.parse().ok()).expect("the port is the third argument");
    let mut child = Command::new("python3")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs (the web servers of the remote tests)");
    wait_for_port(port, &mut child);
    (Server(child), format!("{scheme}://127.0.0.1:{port}"))
}

/// A private certificate authority and a server certificate it signed for 127.0.0.1,
/// made with the openssl command: returns (CA file, certificate file, key file).
fn private_ca_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr, ext) =
        (dir.join("cert.pem"), dir.join("key.pem"), dir.join("leaf.csr"), dir.join("ext.cnf"));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl command runs (it makes the certificates of the https-remote test)");
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let s = |x: &str| std::ffi::OsString::from(x);
    openssl(&[
        &s("req"),
        &s("-x509"),
        &s("-newkey"),
        &s("rsa:2048"),
        &s("-nodes"),
        &s("-days"),
        &s("1"),
        &s("-subj"),
        &s("/CN=rmdnet test CA"),
        &s("-keyout"),
        ca_key.as_os_str(),
        &s("-out"),
        ca.as_os_str(),
    ]);
    openssl(&[
        &s("req"),
        &s("-newkey"),
        &s("rsa:2048"),
        &s("-nodes"),
        &s("-subj"),
        &s("/CN=127.0.0.1"),
        &s("-keyout"),
        key.as_os_str(),
        &s("-out"),
        csr.as_os_str(),
    ]);
    openssl(&[
        &s("x509"),
        &s("-req"),
        &s("-days"),
        &s("1"),
        &s("-in"),
        csr.as_os_str(),
        &s("-CA"),
        ca.as_os_str(),
        &s("-CAkey"),
        ca_key.as_os_str(),
        &s("-CAcreateserial"),
        &s("-extfile"),
        ext.as_os_str(),
        &s("-out"),
        cert.as_os_str(),
    ]);
    (ca, cert, key)
}

/// A static web server over `dir` speaking https with `cert`/`key` (Python's http.server in
/// an ssl context).
fn https_web_server(dir: &Path, cert: &Path, key: &Path) -> (Server, String) {
    let port = free_port();
    let script = "import functools, http.server, ssl, sys\n\
        port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]\n\
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)\n\
        server = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)\n\
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
        ctx.load_cert_chain(cert, key)\n\
        server.socket = ctx.wrap_socket(server.socket, server_side=True)\n\
        server.serve_forever()\n";
    let port = port.to_string();
    python_server(
        &[
            OsStr::new("-c"),
            OsStr::new(script),
            OsStr::new(&port),
            dir.as_os_str(),
            cert.as_os_str(),
            key.as_os_str(),
        ],
        "https",
    )
}

/// Every `stage/key` with a manifest in a store (or a folder remote) directory.
fn published(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for stage in std::fs::read_dir(dir).unwrap().flatten() {
        if !stage.path().is_dir() || stage.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        for key in std::fs::read_dir(stage.path()).unwrap().flatten() {
            if key.path().join("manifest.json").is_file() {
                v.push(format!(
                    "{}/{}",
                    stage.file_name().to_string_lossy(),
                    key.file_name().to_string_lossy()
                ));
            }
        }
    }
    v.sort();
    v
}

/// A reproduce run (its `log`) pulled all seven artifacts into `store`, which now holds
/// what `like` holds and verifies.
fn pulled_everything(log: &str, store: &Path, like: &Path) {
    assert!(log.contains("7 from the remote, 0 to run"), "{log}");
    assert_eq!(published(store), published(like));
    verify_ok(store);
}

#[test]
fn two_machines_share_a_pipeline_through_a_folder_and_a_web_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_small_cifar10(&data, 60);
    let remote_dir = tmp.path().join("remote");
    let remote = file_url(&remote_dir);

    // Machine 1 computes and pushes.
    let a = tmp.path().join("a");
    let log = ok(&run(&mut reproduce(
        &a,
        &data,
        &tmp.path().join("ra"),
        &["cifar10-asym", "--profile", "smoke", "--remote", &remote, "--push"],
    )));
    assert!(log.contains("[7/7] done"), "{log}");
    let n = published(&a).len();
    assert!(log.contains(&format!("pushed {n} artifact(s)")), "{log}");
    assert_eq!(published(&remote_dir), published(&a), "the remote holds what the store holds");
    verify_ok(&a);
    let out = run(&mut store_cmd(&a, &["verify", "--remote", &remote]));
    assert!(ok(&out).contains(&format!("ok: {n} artifact(s) verified")), "{}", ok(&out));

    // Machine 2 has no raw data at all: everything comes from the remote, nothing runs.
    let empty = tmp.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    let b = tmp.path().join("b");
    let log = ok(&run(&mut reproduce(
        &b,
        &empty,
        &tmp.path().join("rb"),
        &["cifar10-asym", "--profile", "smoke", "--remote", &remote],
    )));
    assert!(log.contains("plan: 0 cached, 7 from the remote, 0 to run"), "{log}");
    assert!(!log.contains("[1/"), "no stage may run: {log}");
    pulled_everything(&log, &b, &a);
    let report_a = std::fs::read_to_string(tmp.path().join("ra/results.csv")).unwrap();
    let report_b = std::fs::read_to_string(tmp.path().join("rb/results.csv")).unwrap();
    assert_eq!(report_a, report_b, "the same results from pulled artifacts");

    // A dry run with the remote reads only: nothing is pulled, no name is written, and the
    // plan waits for the dataset the remote names.
    let f = tmp.path().join("f");
    let dry = ["cifar10-asym", "--profile", "smoke", "--remote", remote.as_str(), "--dry-run"];
    let log = ok(&run(&mut reproduce(&f, &empty, &tmp.path().join("rf"), &dry)));
    assert!(log.contains("would be pulled; dry run: nothing changed"), "{log}");
    assert!(published(&f).is_empty() && !f.join("dataset/.names").exists(), "the dry run wrote: {log}");

    // A store whose dataset name already points at a dataset (b adopted the remote's) keeps
    // it when the remote's record later names another artifact: the record is reported,
    // never adopted silently, by a dry run or a real one; --adopt-remote-dataset repoints it.
    let other = tmp.path().join("other-data");
    write_small_cifar10(&other, 50);
    let h = tmp.path().join("h");
    let mut import = common::bin("rmd");
    import.args(["--store", h.to_str().unwrap(), "dataset", "cifar10", "--no-download"]);
    let other_key = ok_key(&run(import.args(["--data-dir", other.to_str().unwrap()])));
    ok(&run(&mut store_cmd(&h, &["push", "--remote", &remote, &other_key])));
    let record = remote_dir.join("dataset/.names/cifar10.json");
    let original = std::fs::read_to_string(&record).unwrap();
    let first_key =
        serde_json::from_str::<serde_json::Value>(&original).unwrap()["key"].as_str().unwrap().to_string();
    std::fs::write(&record, original.replace(&first_key, &other_key)).unwrap();
    let pointer = || std::fs::read_to_string(b.join("dataset/.names/cifar10.json")).unwrap();
    assert!(pointer().contains(&first_key));
    for args in [&dry[..], &dry[..5]] {
        let out = run(&mut reproduce(&b, &empty, &tmp.path().join("rb2"), args));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("keeping this store's"), "{}", stderr(&out));
        assert!(pointer().contains(&first_key), "the local name was repointed: {}", stderr(&out));
    }
    let mut adopt = dry[..5].to_vec();
    adopt.extend(["--adopt-remote-dataset", "--dry-run"]);
    ok(&run(&mut reproduce(&b, &empty, &tmp.path().join("rb2"), &adopt)));
    assert!(pointer().contains(&first_key), "a dry run changes nothing, --adopt-remote-dataset or not");
    adopt.pop();
    let out = run(&mut reproduce(&b, &empty, &tmp.path().join("rb2"), &adopt));
    assert!(
        pointer().contains(&other_key) && pointer().contains("remote "),
        "{}: {}",
        pointer(),
        stderr(&out)
    );
    std::fs::write(&record, &original).unwrap();

    // The same through a read-only web server publishing the folder.
    let (_server, url) = web_server(&remote_dir);
    let c = tmp.path().join("c");
    let log = ok(&run(&mut reproduce(
        &c,
        &empty,
        &tmp.path().join("rc"),
        &["cifar10-asym", "--profile", "smoke", "--remote", &url],
    )));
    pulled_everything(&log, &c, &a);
    // A web server is read-only, and cannot list: status says so.
    let push = run(&mut store_cmd(&c, &["push", "--remote", &url, &published(&c)[0][8..]]));
    assert_eq!(push.status.code(), Some(2), "{}", stderr(&push));
    assert!(stderr(&push).contains("read-only"), "{}", stderr(&push));
    let st = ok(&run(&mut store_cmd(&c, &["status", "--remote", &url])));
    assert!(st.contains(&format!("{n} in both, 0 only local, ? (a web server cannot list)")), "{st}");

    // The same over https from a server whose certificate a private authority signed: refused
    // with a hint until SSL_CERT_FILE names the authority, then everything is pulled.
    let (ca, cert, key) = private_ca_certificate(&tmp.path().join("tls"));
    let (_tls_server, https) = https_web_server(&remote_dir, &cert, &key);
    let e = tmp.path().join("e");
    let args = ["cifar10-asym", "--profile", "smoke", "--remote", https.as_str()];
    let refused = run(reproduce(&e, &empty, &tmp.path().join("re"), &args).env_remove("SSL_CERT_FILE"));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("not trusted") && stderr(&refused).contains("SSL_CERT_FILE"),
        "{}",
        stderr(&refused)
    );
    let log = ok(&run(reproduce(&e, &empty, &tmp.path().join("re"), &args).env("SSL_CERT_FILE", &ca)));
    pulled_everything(&log, &e, &a);

    // A tampered remote object (same size) is refused on pull with the file named, and
    // nothing is installed.
    let noise_key = published(&a).into_iter().find(|n| n.starts_with("noise/")).unwrap();
    let labels = remote_dir.join(&noise_key).join("labels.parquet");
    let mut bytes = std::fs::read(&labels).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&labels, &bytes).unwrap();
    let d = tmp.path().join("d");
    let pull = run(&mut store_cmd(&d, &["pull", "--remote", &remote, &noise_key[6..]]));
    assert_eq!(pull.status.code(), Some(2), "{}", stderr(&pull));
    let e = stderr(&pull);
    assert!(e.contains("labels.parquet") && e.contains("nothing was installed"), "{e}");
    assert!(published(&d).is_empty(), "nothing installed from a tampered remote");
    let out = run(&mut store_cmd(&a, &["verify", "--remote", &remote]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("labels.parquet"));
    // A push of the same artifact finds the published manifest and leaves it (same
    // content is repaired only when a file is missing or resized).
    std::fs::remove_file(&labels).unwrap();
    let log = ok(&run(&mut store_cmd(&a, &["push", "--remote", &remote, &noise_key[6..18]])));
    assert!(log.contains("missing file(s) uploaded again"), "{log}");
    ok(&run(&mut store_cmd(&a, &["verify", "--remote", &remote])));
}

/// The s3s-fs binary: `RMD_S3S_FS`, else `s3s-fs` on PATH or in ~/.cargo/bin.
fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("RMD_S3S_FS") {
        return PathBuf::from(p);
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("s3s-fs")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs")));
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "s3s-fs not found: install it with `cargo install s3s-fs --version 0.14.1 --features binary` or set RMD_S3S_FS"
    );
}

const AK: &str = "rmdtestaccesskey";
const SK: &str = "rmdtestsecretkey0123456789";

/// An S3-compatible server on the loopback address, bucket `shared` created.
fn s3_server(root: &Path) -> (Server, String) {
    std::fs::create_dir_all(root.join("shared")).unwrap();
    let port = free_port();
    let mut child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", AK, "--secret-key", SK])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    wait_for_port(port, &mut child);
    (Server(child), format!("http://127.0.0.1:{port}"))
}

fn with_s3_env<'a>(c: &'a mut Command, endpoint: &str, ak: &str, sk: &str) -> &'a mut Command {
    c.env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("HOME", "/nonexistent")
}

#[test]
#[ignore = "needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary, or RMD_S3S_FS); just test includes it"]
fn s3_remote_push_pull_conditional_writes_and_faults() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_small_cifar10(&data, 30);
    let (_server, endpoint) = s3_server(&tmp.path().join("s3"));
    let a = tmp.path().join("a");
    // A small pipeline's artifacts in store A.
    ok(&run(&mut reproduce(&a, &data, &tmp.path().join("ra"), &["cifar10-asym", "--profile", "smoke"])));
    let keys: Vec<String> = published(&a).iter().map(|n| n.split_once('/').unwrap().1.to_string()).collect();
    let remote = "s3://shared/team/rmdnet";

    // A named remote (no credentials written), then two pushes of everything at once.
    ok(&run(store_cmd(&a, &["remote", "add", "lab", remote, "--option", "region=us-east-1"])
        .env("AWS_SECRET_ACCESS_KEY", SK)));
    let config = std::fs::read_to_string(a.join(".remotes.toml")).unwrap();
    assert!(!config.contains(SK) && !config.contains(AK), "{config}");
    let spawn_push = || {
        let mut c = store_cmd(&a, &["push", "--remote", "lab"]);
        c.args(&keys);
        with_s3_env(&mut c, &endpoint, AK, SK).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (p1, p2) = (spawn_push(), spawn_push());
    for p in [p1, p2] {
        let out = p.wait_with_output().unwrap();
        ok(&out);
    }
    let s3_prefix = tmp.path().join("s3/shared/team/rmdnet");
    assert_eq!(published(&s3_prefix), published(&a), "the bucket holds the store's layout");
    let mut c = store_cmd(&a, &["verify", "--remote", "lab"]);
    let v = ok(&run(with_s3_env(&mut c, &endpoint, AK, SK)));
    assert!(v.contains(&format!("ok: {} artifact(s) verified", keys.len())), "{v}");
    let mut c = store_cmd(&a, &["status", "--remote", "lab"]);
    let st = ok(&run(with_s3_env(&mut c, &endpoint, AK, SK)));
    assert!(st.contains(&format!("{} in both, 0 only local, 0 only remote", keys.len())), "{st}");

    // Store B pulls one distill run by prefix: it and all its inputs arrive, verified.
    let distill = published(&a).into_iter().find(|n| n.starts_with("distill/")).unwrap();
    let b = tmp.path().join("b");
    let mut c = store_cmd(&b, &["pull", "--remote", remote, &distill[8..20]]);
    let log = ok(&run(with_s3_env(&mut c, &endpoint, AK, SK)));
    assert!(log.contains("pulled distill/"), "{log}");
    assert!(published(&b).contains(&distill));
    verify_ok(&b);

    // Wrong credentials: exit 2, the remote named, the secret never printed.
    let mut c = store_cmd(&tmp.path().join("e"), &["pull", "--remote", remote, &keys[0]]);
    let out = run(with_s3_env(&mut c, &endpoint, AK, "wrong-secret-value-123"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("s3://shared/team/rmdnet") && e.contains("credentials"), "{e}");
    assert!(!e.contains("wrong-secret-value-123") && !e.contains(SK), "{e}");

    // A bucket that does not exist (s3s-fs creates buckets on a first write, so it is a
    // pull that meets one here).
    let mut c = store_cmd(&tmp.path().join("h"), &["pull", "--remote", "s3://no-such-bucket/x", &keys[0]]);
    let out = run(with_s3_env(&mut c, &endpoint, AK, SK));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("no-such-bucket") && e.contains("bucket does not exist"), "{e}");

    // An unreachable remote: a clear error within seconds, not minutes of retries.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let mut c = store_cmd(&tmp.path().join("f"), &["pull", "--remote", remote, &keys[0]]);
    let out = run(with_s3_env(&mut c, &dead, AK, SK));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(90), "{:?}", started.elapsed());

    // A file changed in the bucket after upload (same size) is refused and nothing is
    // installed.
    let noise = published(&a).into_iter().find(|n| n.starts_with("noise/")).unwrap();
    let f = s3_prefix.join(&noise).join("labels.parquet");
    let mut bytes = std::fs::read(&f).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let g = tmp.path().join("g");
    let mut c = store_cmd(&g, &["pull", "--remote", remote, &noise[6..]]);
    let out = run(with_s3_env(&mut c, &endpoint, AK, SK));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("labels.parquet"), "{}", stderr(&out));
    assert!(published(&g).is_empty());
}

/// A store holding the noise artifact of a small dataset (its dataset too); returns the
/// noise key.
fn store_with_noise(dir: &Path, store: &Path) -> String {
    let data = dir.join("data");
    write_small_cifar10(&data, 30);
    let mut noise = bin("rmd-noise");
    noise.args(["--store", store.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--no-download"]);
    ok_key(&run(noise.args(["--dataset", "cifar10", "--noise", "sym", "--rate", "0.4", "--seed", "1", "-q"])))
}

/// Every entry below `dir`, as paths relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            v.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            }
        }
    }
    v.sort();
    v
}

/// A folder remote is untrusted: a push never writes through a symbolic link planted in it,
/// and a pull (or `verify --remote`) never reads a file that is a link or a FIFO.
#[cfg(unix)]
#[test]
fn folder_remotes_never_follow_links_or_open_special_files() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let key = store_with_noise(tmp.path(), &a);

    // Push: the remote's stage folder is a link to a folder outside it.
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let remote_dir = tmp.path().join("remote");
    std::fs::create_dir_all(&remote_dir).unwrap();
    std::os::unix::fs::symlink(&outside, remote_dir.join("noise")).unwrap();
    let remote = file_url(&remote_dir);
    let push = run(&mut store_cmd(&a, &["push", "--remote", &remote, &key[..12]]));
    assert_eq!(push.status.code(), Some(2), "{}", stderr(&push));
    assert!(stderr(&push).contains("symbolic link"), "{}", stderr(&push));
    assert!(tree(&outside).is_empty(), "written through the link: {:?}", tree(&outside));

    // Pull: a published file replaced by a link to a host file with the same bytes (so every
    // hash matches), then by a FIFO: both refused, nothing installed, verify says so.
    std::fs::remove_file(remote_dir.join("noise")).unwrap();
    // -q: nothing on stderr but warnings and errors (push and pull refused the flag).
    let quiet = run(&mut store_cmd(&a, &["push", "--remote", &remote, &key[..12], "-q"]));
    ok(&quiet);
    assert!(stderr(&quiet).trim().is_empty(), "{}", stderr(&quiet));
    let labels = remote_dir.join(format!("noise/{key}/labels.parquet"));
    let host_copy = tmp.path().join("host-file.parquet");
    std::fs::rename(&labels, &host_copy).unwrap();
    std::os::unix::fs::symlink(&host_copy, &labels).unwrap();
    let b = tmp.path().join("b");
    for (what, want) in [("link", "is a symbolic link"), ("fifo", "is a FIFO")] {
        if what == "fifo" {
            std::fs::remove_file(&labels).unwrap();
            let c = std::ffi::CString::new(labels.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        let started = Instant::now();
        let pull = run(&mut store_cmd(&b, &["pull", "--remote", &remote, &key]));
        assert_eq!(pull.status.code(), Some(2), "{what}: {}", stderr(&pull));
        assert!(
            stderr(&pull).contains(want) && stderr(&pull).contains("labels.parquet"),
            "{}",
            stderr(&pull)
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: the pull waited");
        assert!(published(&b).iter().all(|p| !p.starts_with("noise/")), "{what}: installed");
        let verify = run(&mut store_cmd(&b, &["verify", "--remote", &remote]));
        assert_eq!(verify.status.code(), Some(1), "{what}: {}", stderr(&verify));
        assert!(String::from_utf8_lossy(&verify.stdout).contains(want), "{what}");
    }
}

/// A listener that accepts connections and either never answers or answers a byte a second.
fn stalling_server(trickle: bool) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stop_thread = stop.clone();
    listener.set_nonblocking(true).unwrap();
    // A valid response, so the client keeps reading: only its pace is hostile.
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    response.resize(response.len() + 100_000, b'x');
    std::thread::spawn(move || {
        let mut held: Vec<(std::net::TcpStream, usize)> = Vec::new();
        let started = Instant::now();
        let mut last_byte = Instant::now();
        // Bounded: the server ends by itself after a minute.
        while !stop_thread.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
            if let Ok((mut s, _)) = listener.accept() {
                // Read the request first: bytes sent before it are refused by the client
                // at once, which would test nothing.
                use std::io::Read;
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.read(&mut [0u8; 65536]);
                held.push((s, 0));
            }
            if trickle && last_byte.elapsed() >= Duration::from_secs(1) {
                last_byte = Instant::now();
                for (s, at) in &mut held {
                    if *at < response.len() && s.write_all(&response[*at..*at + 1]).is_ok() {
                        *at += 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    (port, stop)
}

/// Every wait is bounded: a remote that accepts and never answers, and one that answers a
/// byte a second, each end in exit 2 within 30 s with the bound named.
#[test]
fn a_remote_that_stalls_is_reported_within_half_a_minute() {
    let tmp = tempfile::tempdir().unwrap();
    let key = "ab".repeat(32);
    for trickle in [false, true] {
        let (port, stop) = stalling_server(trickle);
        let url = format!("http://127.0.0.1:{port}/store");
        let started = Instant::now();
        let pull = run(&mut store_cmd(&tmp.path().join("s"), &["pull", "--remote", &url, &key]));
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(pull.status.code(), Some(2), "trickle {trickle}: {}", stderr(&pull));
        assert!(took < Duration::from_secs(30), "trickle {trickle}: {took:?}: {}", stderr(&pull));
        let e = stderr(&pull);
        assert!(e.contains("did not answer within") && e.contains("RMD_REMOTE_"), "trickle {trickle}: {e}");
    }
}
