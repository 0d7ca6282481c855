#!/bin/sh
# lmguard-ads.sh — Flowmon ADS custom script: block the source of every event
# ADS hands it, on the LoadMaster, through lmguard.
#
# Install (see README, "Wire it into Flowmon ADS"):
#   1. ADS: Settings > System Settings > Custom scripts > + NEW CUSTOM SCRIPT,
#      upload this file.
#   2. ADS: Settings > Processing > Custom scripts > + NEW CUSTOM SCRIPT ACTION,
#      bind it to a Perspective, tick Active, set the minimum priority.
#   3. Optional script parameters, named after lmguard's options:
#        --vs        3            block on virtual service 3's list
#        --duration  36h          instead of [block] duration
#        --reason    'ADS SSH'    instead of the event's method
#      ADS appends them as `NAME 'VALUE'` pairs; name them WITH the dashes.
#      A parameter that is not an option of `lmguard block` (`ticket 42`,
#      `vs 3` without dashes) or has an empty value (`--vs ''`) is ignored
#      with a warning, never an error: the events are still blocked.
#
# ADS runs the script as its own user (flowmon on the appliance): that user
# must be able to read the configuration and the API key file and to write
# the state database's directory. Check it with
#   sudo -u flowmon /usr/local/bin/lmguard --config /etc/lmguard/lm-mitigation.toml check
#
# The events arrive on standard input (TSV or JSON lines, detected per line);
# `exec` hands that standard input, and the exit status, to lmguard:
# 0 done, 3 LoadMaster unreachable (recorded as pending; sweep retries),
# 4 some event lines rejected (the rest blocked), 2 configuration error,
# 5 state database busy or unusable.
exec /usr/local/bin/lmguard --config /etc/lmguard/lm-mitigation.toml block "$@"
