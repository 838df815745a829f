# What the app sees of the system enclave-init set up, then exit status 3.
for fs in proc sysfs devtmpfs; do
  grep -q " $fs " /proc/mounts && echo "app: mounted $fs" || echo "app: MISSING $fs"
done
echo "app: hostname $(hostname)"
ip -o addr show dev lo | while read -r _ _ family address _; do echo "app: lo $family $address"; done
grep -v '^#' /etc/hosts | sed 's/^/app: hosts /'
echo "app: exiting with status 3"
exit 3
