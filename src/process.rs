//! Other processes, as /proc shows them: whether the process that holds a
//! claim still runs (the same process, not a later one with its pid).

use std::path::Path;

/// Is process `pid`, started at `recorded_start` (0: not recorded), still
/// running and able to act? A zombie or a stopped process sends nothing.
/// Where /proc cannot tell, a process is taken to run.
pub(crate) fn is_running(pid: u32, recorded_start: u64) -> bool {
    if process_state(pid).is_some_and(|s| matches!(s, 'Z' | 'X' | 'x' | 'T' | 't')) {
        return false;
    }
    match (start_time(pid), recorded_start) {
        (Some(started), recorded) if recorded != 0 => started == recorded,
        (Some(_), _) => true,
        // No such process, or no /proc to ask.
        (None, _) => !Path::new("/proc/self/stat").exists(),
    }
}

/// When a process started (field 22 of /proc/PID/stat, clock ticks since
/// boot); `None` when it does not exist or /proc cannot tell.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow
    // the last ')'. Field 22 is the 20th after it.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A process's state letter (field 3 of /proc/PID/stat: R, S, D, Z, T …);
/// `None` when it does not exist or /proc cannot tell.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_has_a_state() {
        if Path::new("/proc/self/stat").exists() {
            let me = process_state(std::process::id());
            assert!(matches!(me, Some('R' | 'S' | 'D')), "{me:?}");
            assert!(is_running(std::process::id(), 0));
        }
    }

    #[test]
    fn this_process_has_a_start_time() {
        let me = start_time(std::process::id());
        if Path::new("/proc/self/stat").exists() {
            assert!(me.is_some_and(|t| t > 0));
            assert_eq!(me, start_time(std::process::id()));
        }
    }
}
