//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`) on stable
//! Rust, so CI checks the fuzzers' findings without nightly or cargo-fuzz.
#![cfg(not(any(miri, shmlane_loom)))]

use std::path::{Path, PathBuf};

use shmlane::test_support::{OpenOutcome, bytes_ops, hostile_peer, open_header};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn open_header_corpus_replays_without_panic() {
    let files = corpus("open_header");
    assert!(!files.is_empty(), "the open_header corpus is empty");
    let mut opened = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = open_header(&data);
        let name = file.file_name().unwrap().to_string_lossy();
        // The seeds made from real segments must open and deliver their
        // items: this shows the target reaches the ring, not only the
        // validator.
        if name.starts_with("valid-") {
            assert!(
                matches!(outcome, OpenOutcome::Opened { .. }),
                "{name}: {outcome:?}"
            );
            opened += 1;
        }
    }
    assert!(opened > 0);
    let seed = std::fs::read(files.iter().find(|f| f.ends_with("valid-0")).unwrap()).unwrap();
    // valid-0: capacity 16, 5 pushed, 2 popped, so 3 remain.
    assert_eq!(open_header(&seed), OpenOutcome::Opened { popped: 3 });
    let bytes_seeds = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("valid-bytes-")
        })
        .count();
    assert!(
        bytes_seeds > 0,
        "no byte-ring seed: the target would not reach that ring"
    );
    let mut bad = seed.clone();
    bad[1] ^= 0xff; // first byte of the magic
    assert_eq!(open_header(&bad), OpenOutcome::Refused);
}

#[test]
fn hostile_peer_corpus_replays_without_panic() {
    let files = corpus("hostile_peer");
    assert!(!files.is_empty(), "the hostile_peer corpus is empty");
    for file in &files {
        hostile_peer(&std::fs::read(file).unwrap());
    }
}

#[test]
fn bytes_ops_corpus_replays_without_panic() {
    let files = corpus("bytes_ops");
    assert!(!files.is_empty(), "the bytes_ops corpus is empty");
    for file in &files {
        bytes_ops(&std::fs::read(file).unwrap());
    }
}
