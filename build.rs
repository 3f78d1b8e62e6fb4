//! Maps the user's `--cfg loom` onto shmlane's own `--cfg shmlane_loom`.
//!
//! A downstream crate model-checks its code with
//! `RUSTFLAGS="--cfg loom" cargo test`, the cfg tokio honours. RUSTFLAGS
//! reach every crate of the build, so shmlane sees `loom` too; this script
//! turns it into `shmlane_loom`, which every loom switch in `src/` tests
//! (one name, set in one place). `--cfg shmlane_loom` alone still works,
//! for this crate's own `tests/loom.rs`. Cargo.toml pulls loom in under
//! either cfg.
//!
//! Nothing else: no probing, no files read, so a normal build pays only
//! for compiling and running this `main` once.

fn main() {
    // Cargo passes the target's cfgs (RUSTFLAGS included) as CARGO_CFG_*.
    // They are not in cargo's own environment, so `rerun-if-env-changed`
    // cannot watch them, and need not: cargo keys this script's run on the
    // RUSTFLAGS (with and without `--target`), so adding or dropping
    // `--cfg loom` runs it again. Nothing else it reads can change.
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_LOOM").is_some() {
        println!("cargo::rustc-cfg=shmlane_loom");
    }
}
