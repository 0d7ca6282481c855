//! `man/lmguard.1` is generated: clap_mangen renders the synopsis,
//! description, options and subcommands from the clap definitions, and the
//! sections below (files, environment, exit status, examples) are appended.
//! This test fails when the checked-in page is out of date. Regenerate it
//! with `LMGUARD_UPDATE_MAN=1 cargo test --test man_page`.

use clap::CommandFactory;

const EXTRA_SECTIONS: &str = r#".SH FILES
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
\fIstate.redb.lock\fR beside it.
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
.SH "EXIT STATUS"
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
The LoadMaster was unreachable or refused; the work is recorded as pending
and \fBlmguard sweep\fR retries it.
.TP
\fB4\fR
Some input was rejected (a bad address or event line); the rest was
processed.
.TP
\fB5\fR
The state database is busy past \fB[state] lock_timeout\fR, or unusable.
.TP
\fB6\fR
\fBsync\fR found differences.
.PP
When several apply, the highest wins.
.SH EXAMPLES
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
    */5 * * * * /usr/local/bin/lmguard sweep \-\-quiet
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
        "man/{name}.1 is out of date; run LMGUARD_UPDATE_MAN=1 cargo test --test man_page"
    );
}

#[test]
fn checked_in_man_pages_are_current() {
    let command = lmguard::cli::Cli::command();
    let mut rendered = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut rendered)
        .unwrap();
    rendered.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    check_page("lmguard", &rendered);
    // One page per subcommand, as the main page's SUBCOMMANDS refers to them.
    for sub in command.get_subcommands() {
        let name = format!("lmguard-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(&*Box::leak(name.clone().into_boxed_str())))
            .render(&mut page)
            .unwrap();
        check_page(&name, &page);
    }
}
