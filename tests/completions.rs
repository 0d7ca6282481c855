//! `lmguard completions bash|zsh|fish`: a script on standard output, without
//! any configuration.

use assert_cmd::Command;

fn completions(shell: &str) -> std::process::Output {
    Command::cargo_bin("lmguard")
        .unwrap()
        .args(["completions", shell])
        // No configuration anywhere: completions must not need one.
        .env("LMGUARD_CONFIG", "/nonexistent/lm-mitigation.toml")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands_and_options() {
    for shell in ["bash", "zsh", "fish"] {
        let out = completions(shell);
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(out.stderr.is_empty(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.len() > 500, "{shell}: too short:\n{script}");
        for word in [
            "block",
            "unblock",
            "list",
            "sweep",
            "sync",
            "check",
            "stats",
            "prometheus",
            "completions",
            "duration",
            "dry-run",
            "config",
        ] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
}

#[test]
fn each_script_is_for_its_shell() {
    let text = |shell| String::from_utf8(completions(shell).stdout).unwrap();
    assert!(text("bash").contains("complete -F"));
    assert!(text("zsh").starts_with("#compdef lmguard"));
    assert!(text("fish").contains("complete -c lmguard"));
}

#[test]
fn the_bash_script_is_valid_bash() {
    let out = completions("bash");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lmguard.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    match std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
    {
        Ok(check) => assert!(check.status.success(), "{check:?}"),
        Err(_) => crate::common::tools::skip("bash is not installed"),
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = completions("powershell-ish");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("fish"),
        "{stderr}"
    );
}

/// A reader that goes away (`lmguard completions bash | head -1`) is not an
/// error: no message, exit 0. Any other write error still is.
#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .args(["completions", "bash"])
        .env("LMGUARD_CONFIG", "/nonexistent/lm-mitigation.toml")
        .env("HOME", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before lmguard writes its script.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("lmguard"))
        .args(["completions", "bash"])
        .env("LMGUARD_CONFIG", "/nonexistent/lm-mitigation.toml")
        .env("HOME", "/nonexistent")
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a full disk is an internal error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write to standard output"));
}
