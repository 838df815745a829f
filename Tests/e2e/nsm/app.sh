# The app runs as nobody: no root, no access to /dev/nsm, only the endpoint.
echo "app: uid $(id -u), /dev/nsm $( (exec 3<> /dev/nsm) 2> /dev/null && echo open || echo closed to me)"
echo "app: entropy_avail $(cat /proc/sys/kernel/random/entropy_avail)"
# nonce "e2e-nonce-0123", user_data "e2e-user-data", a public key whose DER is "e2e-public-key".
body='{"nonce": "ZTJlLW5vbmNlLTAxMjM=", "user_data": "ZTJlLXVzZXItZGF0YQ==", "public_key": "-----BEGIN PUBLIC KEY-----\nZTJlLXB1YmxpYy1rZXk=\n-----END PUBLIC KEY-----\n"}'
if wget -q -O /tmp/document --header 'Content-Type: application/json' --post-data "$body" http://127.0.0.1:7777/v1/attestation; then
  echo "app: document of $(wc -c < /tmp/document) bytes"
  for field in e2e-nonce-0123 e2e-user-data e2e-public-key; do
    if grep -q "$field" /tmp/document; then echo "app: the document carries $field"; fi
  done
  grep -q "NOT a real NSM" /tmp/document && echo "app: the document says it is a stand-in's"
else
  echo "app: attestation failed"
fi
# busybox nc shuts its write side when its input ends: HTTP allows such a half-closed request,
# and the document (the device answers on a thread of its own) must still come back.
printf 'POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}' | nc 127.0.0.1 7777 > /tmp/half-closed
if head -1 /tmp/half-closed | grep -q "^HTTP/1.1 200 OK" && grep -q "NOT a real NSM" /tmp/half-closed; then
  echo "app: a half-closed request got its document"
else
  echo "app: a half-closed request got: $(head -c 200 /tmp/half-closed | head -1)"
fi
# A bad request: a field over 1024 bytes.
big=$(head -c 1500 /dev/zero | tr '\0' 'A') # 1,125 bytes once decoded
wget -q -O - --post-data "{\"user_data\": \"$big\"}" http://127.0.0.1:7777/v1/attestation > /dev/null 2>&1 || echo "app: an oversized field was refused"
echo "app: done"
