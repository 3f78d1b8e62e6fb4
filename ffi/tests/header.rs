//! include/shmlane.h is what cbindgen makes of ffi/src today: regenerate
//! with `SHMLANE_BLESS=1 cargo test -p shmlane-ffi --test header`.

use std::path::Path;

#[test]
fn the_checked_in_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses ffi/src")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = crate_dir.join("../include/shmlane.h");
    if std::env::var_os("SHMLANE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/shmlane.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/shmlane.h is not what cbindgen makes of ffi/src: run \
         `SHMLANE_BLESS=1 cargo test -p shmlane-ffi --test header` and commit it"
    );
}
