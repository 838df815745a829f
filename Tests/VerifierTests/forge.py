#!/usr/bin/env python3
"""TEST-ONLY: forgeries of a real attestation document, made with cbor2 and cryptography
(libraries nobody here wrote), for VerifierTests. Each is a document an attacker could make.

  forge.py KIND IN OUT [ROOT_PEM_OUT]

  remade-chain   every certificate re-made with the same names and validity but fresh P-384
                 keys (the root self-signed), PCR0 changed, the payload re-signed by the new
                 leaf: signature and chain hold, only the root's fingerprint tells. The fake
                 root's PEM goes to ROOT_PEM_OUT.
  wrong-issuer   as remade-chain, but the leaf is issued by a CA that is not in the bundle
                 (the bundle keeps the re-made intermediates).
  es256          the protected header says ES256 (-7); nothing else changed.
  tagged         the same document wrapped in COSE_Sign1's tag 18 (still valid).
"""
import sys

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

kind, source, target = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(source, "rb").read()
outer = cbor2.loads(raw)
tagged = isinstance(outer, cbor2.CBORTag)
protected, unprotected, payload_bytes, signature = outer.value if tagged else outer


def write(parts, tag=tagged):
    open(target, "wb").write(cbor2.dumps(cbor2.CBORTag(18, parts) if tag else parts))


if kind == "es256":
    write([cbor2.dumps({1: -7}), unprotected, payload_bytes, signature])
    sys.exit(0)
if kind == "tagged":
    write([protected, unprotected, payload_bytes, signature], tag=True)
    sys.exit(0)

payload = cbor2.loads(payload_bytes)
originals = [x509.load_der_x509_certificate(der) for der in payload["cabundle"]] + [
    x509.load_der_x509_certificate(payload["certificate"])]


def remake(original, key, issuer_name, issuer_key, ca):
    builder = (x509.CertificateBuilder().subject_name(original.subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(original.not_valid_before_utc).not_valid_after(original.not_valid_after_utc)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                          key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA384())


keys = [ec.generate_private_key(ec.SECP384R1()) for _ in originals]
remade = []
for position, original in enumerate(originals):
    issuer = position - 1 if position > 0 else 0
    issuer_name = original.subject if position == 0 else remade[issuer].subject
    remade.append(remake(original, keys[position], issuer_name, keys[issuer], ca=position < len(originals) - 1))
if kind == "wrong-issuer":
    # A CA outside the bundle, with the last intermediate's name, issues the leaf.
    stranger = ec.generate_private_key(ec.SECP384R1())
    remade[-1] = remake(originals[-1], keys[-1], remade[-2].subject, stranger, ca=False)
elif kind != "remade-chain":
    sys.exit("forge.py: unknown kind " + kind)

payload["pcrs"][0] = bytes([0x42]) * 48
payload["certificate"] = remade[-1].public_bytes(serialization.Encoding.DER)
payload["cabundle"] = [certificate.public_bytes(serialization.Encoding.DER) for certificate in remade[:-1]]
new_payload = cbor2.dumps(payload)
signed = cbor2.dumps(["Signature1", protected, b"", new_payload])
r, s = decode_dss_signature(keys[-1].sign(signed, ec.ECDSA(hashes.SHA384())))
write([protected, unprotected, new_payload, r.to_bytes(48, "big") + s.to_bytes(48, "big")])
if len(sys.argv) > 4:
    open(sys.argv[4], "wb").write(remade[0].public_bytes(serialization.Encoding.PEM))
