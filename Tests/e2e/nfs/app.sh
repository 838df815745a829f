# Reads what the harness put on the export, writes 1 MiB, then waits for SIGTERM.
trap 'echo "app: SIGTERM, exiting"; exit 0' TERM
echo "app: input $(sha256sum /mnt/pv/input.txt)"
dd if=/dev/urandom of=/mnt/pv/output.bin bs=65536 count=16 2> /dev/null
echo "app: output $(sha256sum /mnt/pv/output.bin)"
touch /e2e/run/app-wrote
while :; do sleep 1; done
