# The parent instance's NFS server, played by the guest's nfsd exporting an ext4 disk image
# (read back on the host after power-off), and `enclave-init parent` in front of it on vsock.
for _ in $(seq 1 100); do [ -b /e2e/dev/vda ] && break; sleep 0.05; done
mount -t ext4 /e2e/dev/vda /export
echo "written by the harness before boot" > /export/input.txt
say "input $(sha256sum /export/input.txt)"
mkdir -p /var/lib/nfs/v4recovery
mount -t nfsd nfsd /proc/fs/nfsd
keep_proc=yes # unmounting /proc/fs/nfsd would stop nfsd
echo 10 > /proc/fs/nfsd/nfsv4gracetime
echo 10 > /proc/fs/nfsd/nfsv4leasetime
exportfs -ra || say "exportfs failed"
rpc.mountd -N 2 -N 3 --no-udp || say "rpc.mountd failed"
rpc.nfsd -N 3 --no-udp -H 127.0.0.1 -p 2049 4 || say "rpc.nfsd failed"
echo Y > /proc/fs/nfsd/v4_end_grace
say "nfsd listening on: $(cat /proc/fs/nfsd/portlist | tr '\n' ' ')"
/init parent --config /etc/enclave-init/boot.json > /dev/console 2>&1 &
# Once the app has written its file: a graceful stop over real vsock, as the parent's systemd
# unit does before `nitro-cli terminate-enclave` (docs/enclave.service).
(
  while [ ! -f /e2e/run/app-wrote ]; do sleep 0.1; done
  echo "harness: the app wrote its file; enclave-init parent stop" > /dev/console
  /init parent stop --config /etc/enclave-init/boot.json --enclave-cid 1 --timeout 30 > /dev/console 2>&1
) &
