# The parent's clock, played by the test-only stand-in (the guest has one clock for both
# halves): it keeps the true time, then the guest's clock is set an hour back.
/e2e/bin/clock_standin serve 9103 > /dev/console 2>&1 &
for _ in $(seq 1 100); do [ -f /e2e/run/clock-truth ] && break; sleep 0.05; done
date -s "@$(( $(date +%s) - 3600 ))" > /dev/null
say "the guest's clock set an hour back: now $(date +%s)"
