//! Who owns a file, by name: messages that name an owner say `flowmon`,
//! not `972`, and name the user this process runs as.

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The user name of `uid` from /etc/passwd, else the number.
pub(crate) fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| name_in(&passwd, uid))
        .unwrap_or_else(|| uid.to_string())
}

/// The name of `uid` in the text of a passwd file.
fn name_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// The name of the user this process runs as.
pub(crate) fn me() -> String {
    user_name(effective_uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_passwd() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "4000000000");
        let passwd = "root:x:0:0::/root:/bin/sh\nflowmon:x:972:972::/home/flowmon:/bin/sh\n";
        assert_eq!(name_in(passwd, 972).as_deref(), Some("flowmon"));
        assert_eq!(name_in(passwd, 5), None);
    }
}
