//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`) on stable
//! Rust, so CI checks the fuzzers' findings without nightly or cargo-fuzz.
#![cfg(not(any(miri, shmlane_loom)))]

use std::path::{Path, PathBuf};

use shmlane::fuzzing::{OpenOutcome, open_header};

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
    let mut bad = seed.clone();
    bad[1] ^= 0xff; // first byte of the magic
    assert_eq!(open_header(&bad), OpenOutcome::Refused);
}
