//! `man/lmguard.1` is generated from the clap definitions; this test fails
//! when the checked-in page is out of date. Regenerate it with
//! `LMGUARD_UPDATE_MAN=1 cargo test --test man_page`.

use clap::CommandFactory;

#[test]
fn checked_in_man_page_is_current() {
    let mut rendered = Vec::new();
    clap_mangen::Man::new(lmguard::cli::Cli::command())
        .render(&mut rendered)
        .unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/lmguard.1");
    if std::env::var_os("LMGUARD_UPDATE_MAN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "man/lmguard.1 is out of date; run LMGUARD_UPDATE_MAN=1 cargo test --test man_page"
    );
}
