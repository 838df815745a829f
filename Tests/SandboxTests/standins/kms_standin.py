#!/usr/bin/env python3
"""TEST-ONLY stand-ins for the KMS sandbox tests. Never in an image.

  kms_standin.py kms  DIR   KMS behind TLS: moto's KMS with its IAM checks on (every request's
                            SigV4 signature and access key are verified by moto), plus what moto
                            lacks: Recipient. A request that carries one gets its plaintext back as
                            CiphertextForRecipient, made by `openssl cms` to the public key inside
                            the attestation document. Writes DIR/kms.json (port, CA, keys, the
                            ciphertexts of DIR/plaintexts.json) once it listens.
  kms_standin.py nsm  SOCKET  the NSM over enclave-init's Unix-socket emulation (4-byte length +
                            CBOR each way): GetRandom, and Attestation answered with an UNSIGNED
                            COSE_Sign1 whose payload carries the request's public_key and the PCRs
                            (PCR0 fixed; 16-31 as DescribePCR, ExtendPCR and LockPCR left them).
  kms_standin.py imds PORTFILE  IMDSv2 on 127.0.0.1: token, role "enclave-role", credentials
                            from the environment (KEY, SECRET).
Knobs (environment): STANDIN_REQUIRE_PCR0=hex, or STANDIN_REQUIRE_PCR0_FILE=path read at each
request (a key policy's PCR condition: AccessDeniedException when the document's PCR0 differs), STANDIN_GARBLE=1 (a garbled envelope),
STANDIN_SLOW_SECONDS=N (every answer waits N seconds: a KMS call in flight for that long).
"""
import base64, json, os, socket, ssl, struct, subprocess, sys, tempfile, threading, time

PCR0 = bytes.fromhex("aa" * 48)
RECIPIENT_PLAINTEXT = {"Decrypt": "Plaintext", "GenerateDataKey": "Plaintext", "GenerateRandom": "Plaintext",
                       "GenerateDataKeyPair": "PrivateKeyPlaintext", "DeriveSharedSecret": "SharedSecret"}
NAME = "kms.us-east-1.amazonaws.com"


def run(*command, **kw):
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def make_ca(directory, name):
    key, cert = f"{directory}/{name}.key", f"{directory}/{name}.crt"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", f"/CN={name}", "-days", "2", "-out", cert)
    return key, cert


def server_certificate(directory, ca_key, ca_cert):
    key, csr, cert, ext = (f"{directory}/server.{x}" for x in ("key", "csr", "crt", "ext"))
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{NAME}\n")
    run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", f"/CN={NAME}", "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
        "-extfile", ext, "-out", cert)
    return key, cert


def envelope_for(public_key_der, plaintext):
    """CiphertextForRecipient as KMS makes it, by openssl cms (-stream: indefinite lengths)."""
    with tempfile.TemporaryDirectory() as d:
        open(f"{d}/pub.der", "wb").write(public_key_der)
        open(f"{d}/plain", "wb").write(plaintext)
        run("openssl", "pkey", "-pubin", "-inform", "DER", "-in", f"{d}/pub.der", "-out", f"{d}/pub.pem")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key", "-subj", "/CN=signer",
            "-days", "1", "-out", f"{d}/ca.crt")
        run("openssl", "req", "-new", "-key", f"{d}/ca.key", "-subj", "/CN=recipient", "-out", f"{d}/r.csr")
        run("openssl", "x509", "-req", "-in", f"{d}/r.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key", "-CAcreateserial",
            "-force_pubkey", f"{d}/pub.pem", "-days", "1", "-out", f"{d}/r.crt")
        run("openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-recip", f"{d}/r.crt", "-keyopt", "rsa_padding_mode:oaep",
            "-keyopt", "rsa_oaep_md:sha256", "-outform", "DER", "-stream", "-in", f"{d}/plain", "-out", f"{d}/env.der")
        return open(f"{d}/env.der", "rb").read()


def kms(directory):
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto checks every request's signature
    import cbor2
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID as account
    from moto.moto_server.werkzeug_app import create_backend_app
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.serving import make_server

    iam = get_backend("iam")[account]["global"]
    iam.create_user("us-east-1", "enclave", path="/")
    key = iam.create_access_key("enclave")
    iam.put_user_policy("enclave", "kms", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    kms_backend = get_backend("kms")[account]["us-east-1"]
    cmk = kms_backend.create_key(policy=None, key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT",
                                 description="enclave-init test key", tags=None)
    ciphertexts = {}
    plaintexts_path = f"{directory}/plaintexts.json"
    if os.path.exists(plaintexts_path):
        for name, entry in json.load(open(plaintexts_path)).items():
            blob, _ = kms_backend.encrypt(cmk.id, entry["plaintext"].encode(), entry.get("context", {}))
            ciphertexts[name] = base64.b64encode(blob).decode()

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = __import__("io").BytesIO(body)
        operation = environ.get("HTTP_X_AMZ_TARGET", "").split(".")[-1]
        slow = float(os.environ.get("STANDIN_SLOW_SECONDS", "0"))
        if slow:
            print(f"kms standin: {operation} received, answering in {slow:g} s", file=sys.stderr, flush=True)
        time.sleep(slow)
        request = json.loads(body or b"{}") if body else {}
        recipient = request.get("Recipient") if isinstance(request, dict) else None
        if recipient and operation in RECIPIENT_PLAINTEXT:
            sign1 = cbor2.loads(base64.b64decode(recipient["AttestationDocument"]))
            if isinstance(sign1, cbor2.CBORTag):
                sign1 = sign1.value
            document = cbor2.loads(sign1[2])
            required = os.environ.get("STANDIN_REQUIRE_PCR0")
            if os.environ.get("STANDIN_REQUIRE_PCR0_FILE"):
                required = open(os.environ["STANDIN_REQUIRE_PCR0_FILE"]).read().strip()
            if required and document["pcrs"][0].hex() != required:
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
                return [json.dumps({"__type": "AccessDeniedException", "message":
                                    "User is not authorized to perform kms:Decrypt: kms:RecipientAttestation:PCR0 does not match"}).encode()]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        answer = b"".join(moto_app(environ, capture))
        if recipient and operation in RECIPIENT_PLAINTEXT and captured["status"].startswith("200"):
            reply = json.loads(answer)
            field = RECIPIENT_PLAINTEXT[operation]
            plaintext = base64.b64decode(reply.pop(field))
            sealed = os.urandom(300) if os.environ.get("STANDIN_GARBLE") else envelope_for(document["public_key"], plaintext)
            reply["CiphertextForRecipient"] = base64.b64encode(sealed).decode()
            answer = json.dumps(reply).encode()
            captured["headers"] = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
            captured["headers"].append(("Content-Length", str(len(answer))))
        start_response(captured["status"], captured["headers"])
        return [answer]

    ca_key, ca_cert = make_ca(directory, "test-ca")
    make_ca(directory, "other-ca")
    server_key, server_cert = server_certificate(directory, ca_key, ca_cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    info = {"port": server.server_port, "ca": ca_cert, "other_ca": f"{directory}/other-ca.crt",
            "access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key, "key_id": cmk.id,
            "ciphertexts": ciphertexts}
    with open(f"{directory}/kms.json.tmp", "w") as f:
        json.dump(info, f)
    os.rename(f"{directory}/kms.json.tmp", f"{directory}/kms.json")
    server.serve_forever()


# PCRs 16-31 as the NSM keeps them (0-15 are the platform's: zero and read-only here).
PCRS = {index: bytes(48) for index in range(32)}
LOCKED = set(range(16))


def pcr_answer(request):
    import hashlib
    (name, fields), = request.items()
    index = fields.get("index") if isinstance(fields, dict) else None
    if not isinstance(index, int) or not 0 <= index < 32:
        return {"Error": "InvalidIndex"}
    if name == "DescribePCR":
        return {"DescribePCR": {"lock": index in LOCKED, "data": PCRS[index]}}
    if index in LOCKED:
        return {"Error": "ReadOnlyIndex"}
    if name == "LockPCR":
        LOCKED.add(index)
        return "LockPCR"
    data = fields.get("data")
    if not isinstance(data, bytes):
        return {"Error": "InvalidArgument"}
    PCRS[index] = hashlib.sha384(PCRS[index] + data).digest()
    return {"ExtendPCR": {"data": PCRS[index]}}


def nsm(path):
    import cbor2
    import hashlib
    # STANDIN_PREEXTEND_PCR=N: PCR N was extended before enclave-init ran (something else ran first).
    if os.environ.get("STANDIN_PREEXTEND_PCR"):
        index = int(os.environ["STANDIN_PREEXTEND_PCR"])
        PCRS[index] = hashlib.sha384(PCRS[index] + b"earlier").digest()
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)

    def exact(connection, count):
        data = b""
        while len(data) < count:
            chunk = connection.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                (length,) = struct.unpack(">I", exact(connection, 4))
                request = cbor2.loads(exact(connection, length))
            except (EOFError, ValueError):
                continue
            if request == "GetRandom":
                answer = {"GetRandom": {"random": os.urandom(256)}}
            elif isinstance(request, dict) and set(request) & {"DescribePCR", "ExtendPCR", "LockPCR"}:
                answer = pcr_answer(request)
            elif isinstance(request, dict) and "Attestation" in request:
                fields = request["Attestation"]
                document = {"module_id": "standin-nsm", "digest": "SHA384", "timestamp": int(time.time() * 1000),
                            "pcrs": {i: (PCR0 if i == 0 else PCRS[i]) for i in range(32)}, "certificate": b"", "cabundle": [],
                            "public_key": fields.get("public_key"), "user_data": fields.get("user_data"), "nonce": fields.get("nonce")}
                sign1 = [cbor2.dumps({1: -35}), {}, cbor2.dumps(document), b""]
                answer = {"Attestation": {"document": cbor2.dumps(cbor2.CBORTag(18, sign1))}}
            else:
                answer = {"Error": "InvalidOperation"}
            encoded = cbor2.dumps(answer)
            connection.sendall(struct.pack(">I", len(encoded)) + encoded)


def imds(port_file):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self.reply(200 if ok else 400, b"standin-token" if ok else b"")

        def do_GET(self):
            if self.headers.get("X-aws-ec2-metadata-token") != "standin-token":
                return self.reply(401, b"")
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self.reply(200, b"enclave-role")
            if self.path == base + "enclave-role":
                expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
                return self.reply(200, json.dumps({"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": os.environ["KEY"],
                                                   "SecretAccessKey": os.environ["SECRET"], "Token": "",
                                                   "Expiration": expiry}).encode())
            self.reply(404, b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_port))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    {"kms": kms, "nsm": nsm, "imds": imds}[sys.argv[1]](sys.argv[2])
