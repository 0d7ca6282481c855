#!/bin/sh
# Write `lmguard stats --prometheus` for node_exporter's textfile collector,
# atomically: into a temporary file in the same directory, then renamed, so
# that the collector never reads a half-written file. Run by
# lmguard-stats.service (every minute, from lmguard-stats.timer) or cron.
#
# Settings (environment):
#   TEXTFILE_DIR    node_exporter's --collector.textfile.directory
#                   (default /var/lib/node_exporter/textfile_collector)
#   LMGUARD         the lmguard binary (default /usr/local/bin/lmguard)
#   LMGUARD_CONFIG  its configuration (default /etc/lmguard/lm-mitigation.toml)
#
# On failure the previous lmguard.prom stays as it was (its metrics then
# age: alert on time() - lmguard_loadmaster_last_answer_timestamp_seconds,
# or on node_textfile_mtime_seconds) and the exit status is lmguard's.
set -eu

dir="${TEXTFILE_DIR:-/var/lib/node_exporter/textfile_collector}"
lmguard="${LMGUARD:-/usr/local/bin/lmguard}"
config="${LMGUARD_CONFIG:-/etc/lmguard/lm-mitigation.toml}"

# The collector reads only *.prom files: this name is never read half-written.
# Whoever else can write the directory must not be able to make this script
# (often root) write or chmod another file through a link planted there: the
# temporary name is random, and it is created here, exclusively (noclobber
# opens with O_EXCL, which fails on anything already there, a symbolic link
# included) and with its final mode (umask 022: 0644), as the one descriptor
# lmguard writes to. Nothing opens, chmods or follows that name afterwards;
# rename(2) replaces lmguard.prom itself, never a file a link there points to.
umask 022
tmp=$(mktemp -u "$dir/.lmguard.prom.XXXXXXXXXX")
set -C
exec 3>"$tmp"
set +C
trap 'rm -f "$tmp"' EXIT
"$lmguard" --config "$config" --quiet stats --prometheus >&3
exec 3>&-
mv -f -T "$tmp" "$dir/lmguard.prom"
trap - EXIT
