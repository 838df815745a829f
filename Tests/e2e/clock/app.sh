# The clock as the app sees it: right after the boot step, and again after the harness has
# knocked it 2 s back while the app runs (the keeper's next correction, 10 s later, fixes it).
/e2e/bin/clock_standin check "at start"
date -s "@$(( $(date +%s) - 2 ))" > /dev/null
/e2e/bin/clock_standin check "knocked back"
sleep 12
/e2e/bin/clock_standin check "after one interval"
# A day between the two clocks after the first sync (as a parent that jumps its clock a day):
# beyond clock.max_step_seconds, the keeper refuses to follow and leaves the clock alone.
date -s "@$(( $(date +%s) - 86400 ))" > /dev/null
sleep 12
/e2e/bin/clock_standin check "a day apart, after one interval"
