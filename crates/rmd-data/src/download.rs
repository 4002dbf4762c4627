//! Fetching official dataset archives: resumable HTTP download to a `.part` file, md5 check,
//! atomic rename, then extraction into a temporary directory renamed into place.

use crate::error::{DataError, IoContext, Result};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the official CIFAR archives live.
pub const DEFAULT_BASE_URL: &str = "https://www.cs.toronto.edu/~kriz/";

/// Environment variable overriding the base URL (a mirror, or a local server in tests).
pub const BASE_URL_ENV: &str = "RMD_DOWNLOAD_URL";

/// An official archive: its file name, md5 and the directory it extracts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficialArchive {
    /// File name on the server and on disk.
    pub file_name: &'static str,
    /// Official md5 of the archive.
    pub md5: &'static str,
    /// Top-level directory inside the archive.
    pub extracts_to: &'static str,
}

/// `cifar-10-binary.tar.gz`.
pub const CIFAR10_ARCHIVE: OfficialArchive = OfficialArchive {
    file_name: "cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    extracts_to: "cifar-10-batches-bin",
};

/// `cifar-100-binary.tar.gz`.
pub const CIFAR100_ARCHIVE: OfficialArchive = OfficialArchive {
    file_name: "cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
    extracts_to: "cifar-100-binary",
};

/// md5 of a file, lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).ctx("opening", path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ctx("reading", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks an archive's md5, naming the file and both digests on mismatch.
pub fn check_md5(path: &Path, archive: &OfficialArchive) -> Result<()> {
    let got = md5_file(path)?;
    if got != archive.md5 {
        return Err(DataError::bad(
            path,
            format!(
                "md5 {got} differs from the official {} of {}: the download is corrupt or it is another file; delete it and retry",
                archive.md5, archive.file_name
            ),
        ));
    }
    Ok(())
}

/// Downloads `base_url + archive.file_name` into `dest_dir`, resuming a previous `.part`
/// file, and checks the md5 before renaming it to its final name.
pub fn download(
    base_url: &str,
    archive: &OfficialArchive,
    dest_dir: &Path,
    progress: bool,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dest_dir).ctx("creating", dest_dir)?;
    let url = format!("{}/{}", base_url.trim_end_matches('/'), archive.file_name);
    let final_path = dest_dir.join(archive.file_name);
    let part = dest_dir.join(format!("{}.part", archive.file_name));
    let offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut request = agent.get(&url);
    if offset > 0 {
        request = request.header("Range", &format!("bytes={offset}-"));
    }
    let fetch_err = |e: String| DataError::Missing(format!("downloading {url} failed: {e}"));
    let response = match request.call() {
        Ok(r) => Some(r),
        // The .part file already holds the whole archive.
        Err(ureq::Error::StatusCode(416)) if offset > 0 => None,
        Err(e) => return Err(fetch_err(e.to_string())),
    };
    if let Some(response) = response {
        let status = response.status().as_u16();
        let append = status == 206 && offset > 0;
        let total = response.body().content_length().map(|n| if append { n + offset } else { n });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&part)
            .ctx("opening", &part)?;
        let bar = crate::progress::bytes_bar(total, progress, &format!("downloading {}", archive.file_name));
        bar.set_position(if append { offset } else { 0 });
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| {
                fetch_err(format!("connection broke off ({e}); rerun to resume from {}", part.display()))
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).ctx("writing", &part)?;
            bar.inc(n as u64);
        }
        file.sync_all().ctx("syncing", &part)?;
        bar.finish_and_clear();
    }
    if let Err(e) = check_md5(&part, archive) {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &final_path).ctx("renaming", &part)?;
    Ok(final_path)
}

/// Extracts a `.tar.gz` archive into `dest_dir/<archive.extracts_to>` through a temporary
/// directory, so an interrupted extraction never leaves a half directory in place.
pub fn extract(archive_path: &Path, archive: &OfficialArchive, dest_dir: &Path) -> Result<PathBuf> {
    let target = dest_dir.join(archive.extracts_to);
    let tmp = dest_dir.join(format!(".extract-{}-{}", archive.extracts_to, std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).ctx("removing", &tmp)?;
    }
    std::fs::create_dir_all(&tmp).ctx("creating", &tmp)?;
    let result = (|| {
        let f = std::fs::File::open(archive_path).ctx("opening", archive_path)?;
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
        ar.unpack(&tmp).map_err(|e| DataError::bad(archive_path, format!("cannot extract: {e}")))?;
        let inner = tmp.join(archive.extracts_to);
        if !inner.is_dir() {
            return Err(DataError::bad(
                archive_path,
                format!("archive does not contain the directory {}", archive.extracts_to),
            ));
        }
        std::fs::rename(&inner, &target).ctx("renaming", &inner)?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A loopback HTTP server (plain std TCP, one connection at a time, closed after each
    /// response) that serves `body` under `/name`, honours `Range: bytes=N-`, and cuts the
    /// first response off after `cut` bytes.
    fn serve(name: &'static str, body: Vec<u8>, cut: Option<usize>) -> (String, Arc<AtomicUsize>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let hits2 = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                let n = hits2.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut start = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        start = v.trim().trim_end_matches('-').parse::<usize>().ok();
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("");
                if path != format!("/{name}") {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                let (status, from) = match start {
                    Some(s) => ("206 Partial Content", s),
                    None => ("200 OK", 0),
                };
                let payload = &body[from..];
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let sent = match cut {
                    Some(c) if n == 0 => &payload[..c],
                    _ => payload,
                };
                let _ = stream.write_all(sent);
                let _ = stream.flush();
                // Dropping the stream closes the connection, mid-body for the cut response.
            }
        });
        (format!("http://{addr}/"), hits)
    }

    fn tar_gz_with_dir(dir: &str, file: &str, content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{dir}/{file}"), content).unwrap();
        b.into_inner().unwrap().finish().unwrap()
    }

    fn md5_hex(bytes: &[u8]) -> &'static str {
        let s: String = Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        Box::leak(s.into_boxed_str())
    }

    #[test]
    fn download_resumes_after_a_broken_connection_and_checks_md5() {
        let body = tar_gz_with_dir("demo-dir", "data.bin", &vec![42u8; 200_000]);
        let archive =
            OfficialArchive { file_name: "demo.tar.gz", md5: md5_hex(&body), extracts_to: "demo-dir" };
        let (url, hits) = serve("demo.tar.gz", body.clone(), Some(body.len() / 3));
        let dir = tempfile::tempdir().unwrap();
        let first = download(&url, &archive, dir.path(), false);
        assert!(first.is_err(), "the cut-off transfer must fail");
        let part = dir.path().join("demo.tar.gz.part");
        assert!(part.exists() && std::fs::metadata(&part).unwrap().len() > 0);
        let path = download(&url, &archive, dir.path(), false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), body);
        assert!(!part.exists());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let out = extract(&path, &archive, dir.path()).unwrap();
        assert_eq!(std::fs::read(out.join("data.bin")).unwrap(), vec![42u8; 200_000]);
    }

    #[test]
    fn md5_mismatch_is_an_error_and_removes_the_part_file() {
        let body = b"not the archive".to_vec();
        let archive = OfficialArchive {
            file_name: "x.tar.gz",
            md5: "00000000000000000000000000000000",
            extracts_to: "x",
        };
        let (url, _) = serve("x.tar.gz", body, None);
        let dir = tempfile::tempdir().unwrap();
        let err = download(&url, &archive, dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("md5") && err.contains("x.tar.gz.part"), "{err}");
        assert!(!dir.path().join("x.tar.gz.part").exists());
        assert!(!dir.path().join("x.tar.gz").exists());
    }

    #[test]
    fn unreachable_server_gives_a_missing_error() {
        // Port 9 on loopback: nothing listens there, so the connection is refused.
        let dir = tempfile::tempdir().unwrap();
        let err = download("http://127.0.0.1:9/", &CIFAR10_ARCHIVE, dir.path(), false).unwrap_err();
        assert!(matches!(err, DataError::Missing(_)), "{err}");
        assert!(err.to_string().contains("cifar-10-binary.tar.gz"));
    }
}
