//! The pages in `man/` are generated: clap_mangen renders the synopsis,
//! description, options and subcommands from the clap definitions, and the
//! sections below (files, environment, exit status, examples) are appended.
//! `lmguard-<command>(1)` is rendered from the built command (so it carries
//! the global options), with clap's own usage line as its synopsis
//! (`lmguard block [OPTIONS] [ADDRESS]...`), the exit status and a SEE ALSO.
//! This test fails when a checked-in page is out of date. Regenerate them
//! with `LMGUARD_UPDATE_MAN=1 cargo test --test main man_page::`.

use clap::CommandFactory;

const FILES_AND_ENVIRONMENT: &str = r#".SH FILES
.TP
\fI/etc/lmguard/lm\-mitigation.toml\fR
The configuration, unless \fB\-\-config\fR, \fBLMGUARD_CONFIG\fR or
\fI~/.config/lmguard/lm\-mitigation.toml\fR names another.
\fIlm\-mitigation.toml.example\fR documents every key and its default.
.TP
\fI/etc/lmguard/api\-key\fR
The LoadMaster API key alone, readable only by the user that runs lmguard
(\fBapi_key_file\fR).
.TP
\fI~/.local/share/lmguard/state.redb\fR
The state database (\fB[state] path\fR), with its lock file
\fIstate.redb.lock\fR and \fIstate.redb.wait\fR (where a waiting lmguard
process asks the one holding the lock to let go) beside it.
.SH ENVIRONMENT
.TP
\fBLMGUARD_CONFIG\fR
The configuration file, when \fB\-\-config\fR is not given.
.TP
\fBNO_COLOR\fR
When set, \fBlist\fR never colours its output.
.TP
The variable named by \fBapi_key_env\fR
Holds the API key, when the configuration uses \fBapi_key_env\fR instead
of \fBapi_key_file\fR.
"#;

/// Every page's EXIT STATUS (the README's exit table).
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Everything asked was done.
.TP
\fB1\fR
Unexpected internal error.
.TP
\fB2\fR
Usage or configuration error; nothing was changed.
.TP
\fB3\fR
The LoadMaster was unreachable or refused (a refused API key, HTTP 401,
included); the work is recorded as pending and \fBlmguard sweep\fR retries
it once the cause is fixed. With several LoadMasters: one of them was left
with pending work (the message names it); the others were served.
.TP
\fB4\fR
Some input was rejected (a bad address or event line, an address to
unblock that has no record); the rest was processed.
.TP
\fB5\fR
The state database is busy past \fB[state] lock_timeout\fR, or unusable.
.TP
\fB6\fR
\fBsync\fR found differences to act on: those \fBsync \-\-apply\fR would
repair, and orphaned entries (lmguard's comment, no local record), which
\fBsync \-\-adopt\fR takes; foreign entries do not count.
.PP
When several apply, the highest wins.
"#;

const EXAMPLES: &str = r#".SH EXAMPLES
The Flowmon ADS custom script (events on standard input, ADS parameters
such as \fB\-\-vs 3\fR appended):
.PP
.nf
    #!/bin/sh
    exec /usr/local/bin/lmguard \-\-config /etc/lmguard/lm\-mitigation.toml block "$@"
.fi
.PP
The crontab line that lifts expired blocks and retries pending work:
.PP
.nf
    */5 * * * * /usr/local/bin/lmguard \-\-config /etc/lmguard/lm\-mitigation.toml sweep \-\-quiet
.fi
.PP
A false positive, removed by hand (it is never re\-added by sweep or sync):
.PP
.nf
    lmguard unblock 203.0.113.7
.fi
.PP
First thing after installing, then the round trip on the LoadMaster (a
test entry added, read back and removed; \fB\-v\fR adds the trace with the
API key masked, to attach to a report when lmguard misreads a firmware):
.PP
.nf
    lmguard check
    lmguard check \-\-probe \-v
.fi
.PP
Two sites: one \fB[[loadmaster]]\fR table each (the one configured before
keeps the name \fBdefault\fR); every block reaches both, and one site's
LoadMaster alone can be worked on:
.PP
.nf
    lmguard check
    lmguard list \-\-loadmaster brno
    lmguard block \-\-loadmaster brno \-\-vs 2 203.0.113.7
.fi
"#;

/// Compare (or, with LMGUARD_UPDATE_MAN, write) one checked-in page.
fn check_page(name: &str, rendered: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(format!("{name}.1"));
    if std::env::var_os("LMGUARD_UPDATE_MAN").is_some() {
        std::fs::write(&path, rendered).unwrap();
    }
    let on_disk = std::fs::read(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "man/{name}.1 is out of date; run LMGUARD_UPDATE_MAN=1 cargo test --test main man_page::"
    );
}

/// `lmguard.1`, then `lmguard-<command>.1` for each subcommand.
fn pages() -> Vec<(String, Vec<u8>)> {
    // The pages document the release; the commit in `--version` is a
    // property of one build and would make them stale on every commit.
    let mut command = lmguard::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut main = Vec::new();
    // `lmguard help COMMAND` works, but has no page of its own: the main
    // page does not list it among the subcommands (lmguard-help(1)).
    clap_mangen::Man::new(command.clone().disable_help_subcommand(true))
        .render(&mut main)
        .unwrap();
    for section in [FILES_AND_ENVIRONMENT, EXIT_STATUS, EXAMPLES] {
        main.extend_from_slice(section.as_bytes());
    }
    let mut pages = vec![("lmguard".to_string(), main)];
    // Built, the subcommands carry the global options and their full names
    // (`lmguard block`), as --help shows them.
    command.build();
    // (Building adds clap's `help` subcommand: it gets no page.)
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("lmguard-{}", sub.get_name());
        let mut sub = sub.clone();
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage:").trim().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.override_usage(usage))
            .title(&name)
            .source(format!("lmguard {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)
            .unwrap();
        page.extend_from_slice(EXIT_STATUS.as_bytes());
        page.extend_from_slice(b".SH \"SEE ALSO\"\n\\fBlmguard\\fR(1)\n");
        pages.push((name, page));
    }
    pages
}

#[test]
fn checked_in_man_pages_are_current() {
    for (name, page) in pages() {
        check_page(&name, &page);
    }
}

#[test]
fn every_command_page_has_its_synopsis_global_options_and_exit_status() {
    for (name, page) in pages().into_iter().skip(1) {
        let page = String::from_utf8(page).unwrap();
        let command = name.replace("lmguard-", "lmguard ");
        assert!(
            page.contains(&format!(".SH SYNOPSIS\n\\fB{command}\\fR [OPTIONS]")),
            "{name}: synopsis\n{page}"
        );
        for section in [
            ".SH \"GLOBAL OPTIONS\"",
            ".SH \"EXIT STATUS\"",
            "\\-\\-config",
        ] {
            assert!(page.contains(section), "{name} lacks {section}");
        }
    }
    let block =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/lmguard-block.1"))
            .unwrap();
    assert!(block.contains("[OPTIONS] [ADDRESS]..."), "{block}");
}

#[test]
fn the_sync_page_documents_exit_6_the_four_kinds_and_adopt() {
    let sync = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/lmguard-sync.1"))
        .unwrap();
    for needle in [
        "missing_on_loadmaster",
        "stale_on_loadmaster",
        "orphaned",
        "foreign",
        "\\-\\-adopt",
        "\\fB6\\fR",
        "Exit status: 6 when",
    ] {
        assert!(sync.contains(needle), "lmguard-sync.1 lacks {needle}");
    }
}

#[test]
fn the_readme_installs_every_page() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains("install -m 644 man/*.1 /usr/local/share/man/man1/"),
        "the README must install every page in man/"
    );
}

/// Every page `lmguard(1)` names exists (no `lmguard-help(1)`), the cron
/// line of `sweep --help` and `lmguard(1)` is contrib/crontab's, and the
/// `stats --help` example keeps each command whole on its line at 80
/// columns (issue 25).
#[test]
fn the_pages_and_help_name_what_exists_and_what_contrib_ships() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = std::fs::read_to_string(dir.join("man/lmguard.1")).unwrap();
    for (at, _) in main.match_indices("lmguard\\-") {
        let name: String = main[at..]
            .replace("\\-", "-")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if main[at..].replace("\\-", "-")[name.len()..].starts_with("(1)") {
            assert!(
                dir.join(format!("man/{name}.1")).exists(),
                "lmguard.1 names {name}(1), which does not exist"
            );
        }
    }
    let crontab = std::fs::read_to_string(dir.join("contrib/crontab")).unwrap();
    let line = crontab
        .lines()
        .find(|l| l.starts_with("*/5 "))
        .expect("the crontab line");
    let sweep = std::process::Command::new(env!("CARGO_BIN_EXE_lmguard"))
        .args(["sweep", "--help"])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let sweep = String::from_utf8(sweep.stdout).unwrap();
    assert!(
        sweep.contains(line),
        "{line:?} not in sweep --help:\n{sweep}"
    );
    assert!(
        main.replace("\\-", "-").contains(line),
        "{line:?} not in lmguard(1)"
    );
    let stats = std::process::Command::new(env!("CARGO_BIN_EXE_lmguard"))
        .args(["stats", "--help"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let stats = String::from_utf8(stats.stdout).unwrap();
    for whole in [
        "  cd /var/lib/node_exporter &&\n",
        "    lmguard stats --prometheus > .lmguard.prom.tmp &&\n",
        "    mv .lmguard.prom.tmp lmguard.prom\n",
    ] {
        assert!(stats.contains(whole), "{whole:?} in:\n{stats}");
    }
}
