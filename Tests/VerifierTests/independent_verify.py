#!/usr/bin/env python3
"""TEST-ONLY: a second verifier, written with cbor2 and cryptography (libraries nobody here
wrote), so that VerifierTests can check that `enclave-init verify` and it agree on whether a
document is authentic. It checks the same things in its own way: ES384 over the
Sig_structure with the leaf's key, each certificate signed by the one before it (the root by
itself) and valid at TIME, and the root's SHA-256 fingerprint.

  independent_verify.py DOCUMENT TIME FINGERPRINT_HEX    prints "authentic" or "not authentic: why"
"""
import datetime
import sys

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def verdict(path, at, fingerprint):
    try:
        outer = cbor2.loads(open(path, "rb").read())
    except Exception as error:  # any decoding failure is a refusal
        return "not CBOR: %s" % error
    # Inside a tag cbor2 gives a tuple, outside a list.
    parts = outer.value if isinstance(outer, cbor2.CBORTag) and outer.tag == 18 else outer
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        return "not a COSE_Sign1"
    protected, _, payload_bytes, signature = parts
    if not all(isinstance(part, bytes) for part in (protected, payload_bytes, signature)):
        return "not a COSE_Sign1"
    if cbor2.loads(protected) != {1: -35}:
        return "not ES384"
    payload = cbor2.loads(payload_bytes)
    try:
        chain = [x509.load_der_x509_certificate(der) for der in payload["cabundle"]]
        leaf = x509.load_der_x509_certificate(payload["certificate"])
    except Exception as error:
        return "a certificate does not parse: %s" % error
    if not chain or chain[0].fingerprint(hashes.SHA256()).hex() != fingerprint.lower():
        return "the root is not the pinned one"
    if len(signature) != 96:
        return "the signature is not 96 bytes"
    signed = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
    der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
    try:
        leaf.public_key().verify(der, signed, ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, AttributeError, TypeError):
        return "the signature does not verify"
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    everything = chain + [leaf]
    for position, certificate in enumerate(everything):
        issuer = everything[position - 1] if position > 0 else certificate
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return "certificate %d is not issued by the one before it" % position
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            return "certificate %d is not valid at %s" % (position, moment.isoformat())
    return "authentic"


result = verdict(sys.argv[1], int(sys.argv[2]), sys.argv[3])
print(result if result == "authentic" else "not authentic: " + result)
