//! `data fetch` against a local HTTP server on 127.0.0.1 (never the real URL): a small
//! archive shaped like CIFAR-10's, with hostile members that must not be written.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use wideprobe::data::fetch::{fetch_cifar10, FetchSource, ARCHIVE_DIR, MEMBERS};
use wideprobe::data::{ensure_cifar10_from, DatasetChoice};

mod support;

use support::{made, Scratch};

fn scratch(test: &str) -> Scratch {
    Scratch::new("fetch", test)
}

fn contents(member: &str) -> Vec<u8> {
    format!("contents of {member}\n").repeat(7).into_bytes()
}

/// The name of the hostile file the archive tries to write two folders up.
fn evil_name() -> String {
    format!("wideprobe-evil-{}.bin", std::process::id())
}

fn absolute_evil() -> PathBuf {
    std::env::temp_dir().join(format!("wideprobe-evil-abs-{}.bin", std::process::id()))
}

/// Append a regular file whose header name is written raw, so that names the tar
/// builder would refuse (`..`, absolute paths) get into the archive.
fn append_raw(builder: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_old();
    let field = &mut header.as_old_mut().name;
    assert!(
        name.len() < field.len(),
        "name too long for the test: {name}"
    );
    field[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// A tar.gz with the given members of ARCHIVE_DIR, the official extras, and hostile
/// members (a `..` escape and an absolute path).
fn archive(members: &[&str]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    append_raw(
        &mut builder,
        &format!("{ARCHIVE_DIR}/batches.meta.txt"),
        b"airplane\n",
    );
    append_raw(
        &mut builder,
        &format!("{ARCHIVE_DIR}/../../{}", evil_name()),
        b"evil",
    );
    for m in members {
        append_raw(&mut builder, &format!("{ARCHIVE_DIR}/{m}"), &contents(m));
    }
    append_raw(&mut builder, absolute_evil().to_str().unwrap(), b"evil");
    append_raw(&mut builder, "readme.html", b"<html></html>");
    builder.into_inner().unwrap().finish().unwrap()
}

fn full_archive() -> Vec<u8> {
    archive(&MEMBERS)
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 200 with the whole body.
fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Announces the whole body, sends the first half, then closes.
fn truncated(body: &[u8]) -> Vec<u8> {
    let mut r = ok(body);
    r.truncate(r.len() - body.len() / 2);
    r
}

fn not_found() -> Vec<u8> {
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_vec()
}

/// Serve the given raw responses, one per connection, in order, then stop. Returns
/// the URL. The thread is bounded by the number of responses; it is not joined so that
/// a test that makes fewer requests does not hang.
fn serve(responses: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            read_request(&mut stream);
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    format!("http://{addr}/cifar-10-binary.tar.gz")
}

/// Read up to the end of the request's headers (a GET has no body).
fn read_request(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(got.starts_with(b"GET /cifar-10-binary.tar.gz HTTP/1.1\r\n"));
}

fn source(url: String, body: &[u8]) -> FetchSource {
    FetchSource {
        url,
        md5: md5_hex(body),
        bytes: Some(body.len() as u64),
    }
}

/// The source of `body` (its MD5 and size) at a server that sends `responses`.
fn served(body: &[u8], responses: Vec<Vec<u8>>) -> FetchSource {
    source(serve(responses), body)
}

/// A fresh folder for `test`, and the full archive with the source that serves it
/// once, whole.
fn folder_and_full_archive(test: &str) -> (Scratch, Vec<u8>, FetchSource) {
    let root = scratch(test);
    let body = full_archive();
    let src = served(&body, vec![ok(&body)]);
    (root, body, src)
}

/// Every file under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn assert_no_evil(root: &Path) {
    let evil = evil_name();
    let mut dir = Some(root);
    while let Some(d) = dir {
        assert!(
            !d.join(&evil).exists(),
            "{} written",
            d.join(&evil).display()
        );
        dir = d.parent();
    }
    assert!(
        !absolute_evil().exists(),
        "{} written",
        absolute_evil().display()
    );
}

fn err_text(r: anyhow::Result<PathBuf>) -> String {
    format!("{:#}", r.expect_err("fetch should have failed"))
}

/// Fetching `src` into `dest` (below `root`) must fail with a message holding each of
/// `wanted`, and leave no file under `root` and no `dest`; `case` names the attempt.
fn assert_fails_leaving_nothing(
    case: &str, src: &FetchSource, root: &Path, dest: &Path, wanted: &[&str],
) {
    let err = err_text(fetch_cifar10(src, dest, false));
    for w in wanted {
        assert!(err.contains(w), "{case}: {err}");
    }
    assert_eq!(tree(root), Vec::<String>::new(), "{case}");
    assert!(!dest.exists(), "{case}: {} exists", dest.display());
}

#[test]
fn fetch_extracts_exactly_the_six_members() {
    let (root, _, src) = folder_and_full_archive("ok");
    // Two levels that do not exist yet: the parent is created.
    let dest = root.join("cache").join("wideprobe").join(ARCHIVE_DIR);
    let got = fetch_cifar10(&src, &dest, false).unwrap();
    assert_eq!(got, dest);
    let mut want: Vec<String> = MEMBERS
        .iter()
        .map(|m| format!("cache/wideprobe/{ARCHIVE_DIR}/{m}"))
        .collect();
    want.sort();
    // Exactly the six files: no temporaries, no extras, nothing escaped.
    assert_eq!(tree(&root), want);
    for m in MEMBERS {
        assert_eq!(fs::read(dest.join(m)).unwrap(), contents(m), "{m}");
    }
    assert_no_evil(&dest);
}

#[test]
fn wrong_md5_leaves_nothing() {
    let (root, body, mut src) = folder_and_full_archive("md5");
    let dest = root.join(ARCHIVE_DIR);
    src.md5 = "00112233445566778899aabbccddeeff".to_string();
    let want = format!(
        "the download is corrupt (MD5 {}, expected 00112233445566778899aabbccddeeff): run the command again",
        md5_hex(&body)
    );
    assert_fails_leaving_nothing("wrong MD5", &src, &root, &dest, &[&want]);
    assert_no_evil(&root);
}

#[test]
fn truncated_body_leaves_nothing() {
    let root = scratch("truncated");
    let body = full_archive();
    // Once with the size known in advance, once relying on Content-Length alone.
    let truncating = served(&body, vec![truncated(&body), truncated(&body)]);
    let dest = root.join(ARCHIVE_DIR);
    for bytes in [Some(body.len() as u64), None] {
        let src = FetchSource {
            bytes,
            ..truncating.clone()
        };
        let wanted = ["cut off", "run the command again"];
        let case = format!("size known: {bytes:?}");
        assert_fails_leaving_nothing(&case, &src, &root, &dest, &wanted);
    }
}

#[test]
fn http_error_and_wrong_size_leave_nothing() {
    let root = scratch("http");
    let body = full_archive();
    let src = served(&body, vec![not_found(), ok(&body)]);
    let dest = root.join(ARCHIVE_DIR);
    assert_fails_leaving_nothing("HTTP 404", &src, &root, &dest, &["HTTP 404"]);

    let src = FetchSource {
        bytes: Some(170_052_171),
        ..src
    };
    let wanted = ["expected 170052171"];
    assert_fails_leaving_nothing("wrong size", &src, &root, &dest, &wanted);
}

#[test]
fn archive_missing_a_member_leaves_nothing() {
    let root = scratch("missing");
    let body = archive(&MEMBERS[..5]);
    let src = served(&body, vec![ok(&body)]);
    let dest = root.join(ARCHIVE_DIR);
    assert_fails_leaving_nothing(
        "no test batch",
        &src,
        &root,
        &dest,
        &["lacks test_batch.bin"],
    );
    assert_no_evil(&root);
}

#[test]
fn existing_data_is_kept_unless_force() {
    let (root, _, src) = folder_and_full_archive("existing");
    let dest = made(root.join(ARCHIVE_DIR));
    for m in MEMBERS {
        fs::write(dest.join(m), b"old").unwrap();
    }

    let err = err_text(fetch_cifar10(&src, &dest, false));
    assert!(err.contains("already holds CIFAR-10"), "{err}");
    assert!(err.contains("--force"), "{err}");
    for m in MEMBERS {
        assert_eq!(fs::read(dest.join(m)).unwrap(), b"old", "{m}");
    }

    // With --force the old copy is replaced whole, and no temporaries remain.
    fetch_cifar10(&src, &dest, true).unwrap();
    for m in MEMBERS {
        assert_eq!(fs::read(dest.join(m)).unwrap(), contents(m), "{m}");
    }
    assert_eq!(tree(&root).len(), MEMBERS.len());
}

#[test]
fn folder_with_other_files_is_never_replaced() {
    let root = scratch("foreign");
    let dest = made(root.join("mine"));
    fs::write(dest.join("thesis.tex"), b"precious").unwrap();
    let body = full_archive();
    let src = served(&body, vec![ok(&body), ok(&body)]);
    for force in [false, true] {
        let err = err_text(fetch_cifar10(&src, &dest, force));
        assert!(err.contains("choose another --dir"), "{err}");
        assert_eq!(tree(&root), vec!["mine/thesis.tex".to_string()]);
    }
}

#[test]
fn empty_existing_folder_is_filled() {
    let (root, _, src) = folder_and_full_archive("empty");
    let dest = made(root.join(ARCHIVE_DIR));
    fetch_cifar10(&src, &dest, false).unwrap();
    assert_eq!(tree(&dest).len(), MEMBERS.len());
    assert_eq!(tree(&root).len(), MEMBERS.len());
}

#[test]
fn official_source_is_the_published_archive() {
    let s = FetchSource::official();
    assert_eq!(
        s.url,
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    );
    assert_eq!(s.md5, "c32a1d4ab5d03f1284b67883e8d87530");
    assert_eq!(s.bytes, Some(170_052_171));
}

/// A listener nobody answers: `connected` says whether anything tried to connect.
struct Watched(TcpListener);

impl Watched {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Watched(listener)
    }

    fn source(&self) -> FetchSource {
        let url = format!(
            "http://{}/cifar-10-binary.tar.gz",
            self.0.local_addr().unwrap()
        );
        source(url, b"never served")
    }

    fn connected(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// A server that takes one connection and closes it without answering. A port freed
/// to stand for "nothing listens here" could be handed to another test's server running
/// in parallel, and this download would then take that test's answer (CI saw it).
fn closing_source() -> FetchSource {
    source(serve(vec![Vec::new()]), b"never served")
}

#[test]
fn missing_cifar_is_fetched_into_the_data_dir() {
    let (root, _, src) = folder_and_full_archive("ensure-ok");
    let dest = root.join("data");
    let plan = ensure_cifar10_from(DatasetChoice::Auto, Some(&dest), false, &src).unwrap();
    assert_eq!(plan.choice, DatasetChoice::Auto);
    assert_eq!(plan.banner, None);
    assert_eq!(plan.fetched.as_deref(), Some(dest.as_path()));
    for m in MEMBERS {
        assert_eq!(fs::read(dest.join(m)).unwrap(), contents(m), "{m}");
    }
}

#[test]
fn a_failed_fetch_falls_back_to_synthetic_with_one_banner_naming_the_fix() {
    let root = scratch("ensure-fail");
    let dest = root.join("data");
    let plan =
        ensure_cifar10_from(DatasetChoice::Auto, Some(&dest), false, &closing_source()).unwrap();
    assert_eq!(plan.choice, DatasetChoice::Synthetic);
    assert_eq!(plan.fetched, None);
    let banner = plan.banner.expect("a banner");
    assert!(
        banner.contains("SYNTHETIC")
            && banner.contains("downloading it failed")
            && banner.contains("wideprobe data fetch")
            && banner.contains(&dest.display().to_string()),
        "{banner}"
    );
    assert!(!dest.exists(), "nothing is left at {}", dest.display());
    // dataset: cifar10 stays strict.
    let err = ensure_cifar10_from(
        DatasetChoice::Cifar10,
        Some(&dest),
        false,
        &closing_source(),
    )
    .expect_err("cifar10 must not fall back");
    let text = format!("{err:#}");
    assert!(
        text.contains("dataset: cifar10") && text.contains("wideprobe data fetch"),
        "{text}"
    );
}

#[test]
fn offline_synthetic_or_present_data_never_connects() {
    let root = scratch("ensure-offline");
    let absent = root.join("absent");
    let server = Watched::new();
    let offline =
        ensure_cifar10_from(DatasetChoice::Auto, Some(&absent), true, &server.source()).unwrap();
    assert_eq!(offline.choice, DatasetChoice::Synthetic);
    let banner = offline.banner.expect("a banner");
    assert!(
        banner.contains("offline") && banner.contains("wideprobe data fetch"),
        "{banner}"
    );
    let strict = ensure_cifar10_from(
        DatasetChoice::Cifar10,
        Some(&absent),
        true,
        &server.source(),
    );
    assert!(format!("{:#}", strict.unwrap_err()).contains("offline"));
    let synthetic = ensure_cifar10_from(
        DatasetChoice::Synthetic,
        Some(&absent),
        false,
        &server.source(),
    )
    .unwrap();
    assert_eq!(
        (synthetic.choice, synthetic.banner),
        (DatasetChoice::Synthetic, None)
    );
    let present = made(root.join("present"));
    fs::write(present.join("data_batch_1.bin"), b"x").unwrap();
    let kept = ensure_cifar10_from(
        DatasetChoice::Cifar10,
        Some(&present),
        false,
        &server.source(),
    )
    .unwrap();
    assert_eq!(
        (kept.choice, kept.banner, kept.fetched),
        (DatasetChoice::Cifar10, None, None)
    );
    assert!(!server.connected(), "nothing may be downloaded here");
    assert!(!absent.exists());
}
