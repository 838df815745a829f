# The clock as the app sees it: right after the boot step, and again after the harness has
# knocked it 2 s back while the app runs (the keeper's next correction, 10 s later, fixes it).
/e2e/bin/clock_standin check "at start"
date -s "@$(( $(date +%s) - 2 ))" > /dev/null
/e2e/bin/clock_standin check "knocked back"
sleep 12
/e2e/bin/clock_standin check "after one interval"
