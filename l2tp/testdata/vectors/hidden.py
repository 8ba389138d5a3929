#!/usr/bin/python3
"""Independent computation of RFC 2661 section 4.3 hidden AVP values and
section 4.4.3 Challenge Responses, with nothing but hashlib. The expected
bytes in hidden_test.go were printed by this script; rerun it to check:

    /usr/bin/python3 l2tp/testdata/vectors/hidden.py
"""
import hashlib, struct

def hide(avp_type, secret, rv, value, pad=b""):
    # Hidden AVP subformat: 2-byte original length, value, padding.
    p = struct.pack("!H", len(value)) + value + pad
    out = b""
    key = hashlib.md5(struct.pack("!H", avp_type) + secret + rv).digest()
    for i in range(0, len(p), 16):
        blk = p[i:i+16]
        c = bytes(a ^ b for a, b in zip(blk, key))
        out += c
        # Next key: MD5(secret + previous ciphertext block, full 16 bytes).
        key = hashlib.md5(secret + c).digest()
    return out

def avp(mandatory, hidden, avp_type, value):
    flags = (0x8000 if mandatory else 0) | (0x4000 if hidden else 0)
    return struct.pack("!HHH", flags | (6 + len(value)), 0, avp_type) + value

secret = b"sluice-test-secret"
rv = bytes(range(0xa0, 0xb0))

# Vector 1: Assigned Session ID (14) = 0x1234, no padding: one block.
v1 = hide(14, secret, rv, b"\x12\x34")
print("assigned-session-id", v1.hex())

# Vector 2: Calling Number (22), 40 bytes, 5 bytes of padding: three blocks, the last partial.
calling = b"+44 20 7946 0000 / sluice hidden avp test"[:40]
v2 = hide(22, secret, rv, calling, pad=b"\x00\x01\x02\x03\x04")
print("calling-number-value", calling.hex())
print("calling-number", v2.hex())

# A whole ICRQ with both hidden, as a peer would send it (Ns=0, Nr=1, tunnel 0x4d2, session 0).
body = avp(True, False, 0, struct.pack("!H", 10))          # Message Type ICRQ
body += avp(True, False, 36, rv)                             # Random Vector
body += avp(True, True, 14, v1)                              # Assigned Session ID, hidden
body += avp(True, False, 15, struct.pack("!I", 7))           # Call Serial Number 7
body += avp(True, True, 22, v2)                              # Calling Number, hidden
hdr = struct.pack("!HHHHHH", 0xc802, 12 + len(body), 0x04d2, 0, 0, 1)
print("icrq", (hdr + body).hex())

# Challenge Responses (RFC 2661 4.4.3): MD5(one-octet message type + secret + challenge).
chal = bytes.fromhex("00112233445566778899aabbccddeeff")
print("response-sccrp", hashlib.md5(bytes([2]) + secret + chal).hexdigest())
print("response-scccn", hashlib.md5(bytes([3]) + secret + chal).hexdigest())
