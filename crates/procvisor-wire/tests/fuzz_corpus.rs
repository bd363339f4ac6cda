//! Replays the checked-in fuzz corpora (`fuzz/corpus/<target>`) and any minimised crash
//! reproducers (`fuzz/regressions/<target>`) through the exact functions the fuzz targets call,
//! so CI exercises them without a fuzzer.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut found = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            found.push((entry.path(), data));
        }
    }
    found
}

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= 10,
        "the {target} corpus is missing ({} inputs found)",
        inputs.len()
    );
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn the_frame_decoder_corpus_replays_cleanly() {
    replay("frame_decoder", procvisor_wire::fuzzing::frame_decoder);
}

#[test]
fn the_handshake_corpus_replays_cleanly() {
    replay("handshake", procvisor_wire::fuzzing::handshake);
}
