#!/usr/bin/python3
"""Independent ESP oracle for sluice's ipsec package, built on python3-scapy
(Debian, 2.5.0) and python3-cryptography.

Run by ipsec/scapy_test.go; reads one JSON request on stdin, writes one JSON
answer on stdout.

  encrypt: for every case, scapy crafts inner packets (UDP/1701 "L2TP" in
           transport mode; alternately IPv4 and IPv6 inner packets in tunnel
           mode, so IPv4-in-IPv6 and IPv6-in-IPv4 both occur), encrypts them
           with its SecurityAssociation at the given sequence numbers, and
           returns the wire packets with the inner packet sluice must hand
           back, as scapy itself decrypts it (from a copy: decrypt() mutates
           its argument).
  decrypt: for every case, scapy checks the outer headers sluice built and
           decrypts the wire packets; the answer carries the inner packets.

Where scapy 2.5.0 falls short of the RFCs, this script fills the gap with
python's own hmac/hashlib (never with sluice's code), and says so:
  * ESP ICVs of HMAC suites with ESN: scapy signs the ESP packet without the
    high-order sequence bits that RFC 4303 2.2.1 appends for the ICV; the
    script recomputes / verifies the ICV itself with hmac.new(...).
  * IPv6 + NAT-T transport decryption: scapy's _decrypt_esp sets "nh" on the
    UDP layer; the script checks the UDP header itself, then hands scapy the
    ESP packet directly behind the IPv6 header.
  * IPv4 NAT-T encryption: scapy leaves the UDP length at 8; the script sets
    the length of the datagram.
NAT-T packets pass a simulated NAT on their way to sluice (the outer source
address is rewritten), so the inner TCP/UDP checksums no longer match the
header. The RFC 3948 3.1.2 option sluice documents for NAT-T transport
decapsulation (inner UDP checksum zeroed over IPv4, recomputed over IPv6 and
for TCP) is applied here to scapy's plaintext, with scapy computing the
checksums.
"""
import hashlib
import hmac
import json
import struct
import sys

from scapy.layers.inet import IP, IPOption, UDP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw

PROPOSALS = {
    # name: (crypt_algo, auth_algo, icv_len, hash)
    "aes128gcm16": ("AES-GCM", None, 16, None),
    "aes256gcm16": ("AES-GCM", None, 16, None),
    "chacha20poly1305": ("CHACHA20-POLY1305", None, 16, None),
    "aes128-sha1": ("AES-CBC", "HMAC-SHA1-96", 12, hashlib.sha1),
    "aes256-sha1": ("AES-CBC", "HMAC-SHA1-96", 12, hashlib.sha1),
    "aes128-sha256": ("AES-CBC", "SHA2-256-128", 16, hashlib.sha256),
    "aes256-sha256": ("AES-CBC", "SHA2-256-128", 16, hashlib.sha256),
}


def make_sa(c):
    crypt, auth, _, _ = PROPOSALS[c["proposal"]]
    kw = dict(crypt_algo=crypt, crypt_key=bytes.fromhex(c["enc_key"]))
    if auth:
        kw.update(auth_algo=auth, auth_key=bytes.fromhex(c["auth_key"]))
    if c["mode"] == "tunnel":
        cls = IPv6 if c["v6"] else IP
        kw["tunnel_header"] = cls(src=c["src"], dst=c["dst"])
    if c["natt"]:
        kw["nat_t_header"] = UDP(sport=c["sport"], dport=c["dport"])
    if c["esn"]:
        kw["esn_en"] = True
    return SecurityAssociation(ESP, spi=c["spi"], **kw)


def outer_split(c, raw, strict):
    """Parse the outer packet; return (ip, esp_bytes). Checks lengths,
    the IPv4 header checksum and the NAT-T UDP header (strict: also the
    rules for what sluice sends, which scapy itself does not follow: scapy
    sends a zero UDP checksum over IPv6)."""
    cls = IPv6 if c["v6"] else IP
    ip = cls(raw)
    if c["v6"]:
        if ip.plen != len(raw) - 40:
            raise ValueError("IPv6 payload length %d, packet %d" % (ip.plen, len(raw)))
        hl, proto = 40, ip.nh
    else:
        if ip.len != len(raw):
            raise ValueError("IPv4 total length %d, packet %d" % (ip.len, len(raw)))
        ref = IP(raw)
        del ref.chksum
        if IP(bytes(ref)).chksum != ip.chksum:
            raise ValueError("IPv4 header checksum wrong")
        hl, proto = ip.ihl * 4, ip.proto
    body = raw[hl:]
    if c["natt"]:
        if proto != 17:
            raise ValueError("NAT-T packet with protocol %d" % proto)
        sport, dport, ulen, csum = struct.unpack("!HHHH", body[:8])
        if (sport, dport) != (c["sport"], c["dport"]):
            raise ValueError("UDP ports %d/%d" % (sport, dport))
        if ulen != len(body):
            raise ValueError("UDP length %d, datagram %d" % (ulen, len(body)))
        if c["v6"] and strict:
            chk = IPv6(raw)
            del chk[UDP].chksum
            if IPv6(bytes(chk))[UDP].chksum != csum:
                raise ValueError("IPv6 UDP checksum wrong")
        elif not c["v6"] and csum != 0:
            raise ValueError("RFC 3948 2.1: IPv4 NAT-T UDP checksum should be 0")
        body = body[8:]
    elif proto != 50:
        raise ValueError("ESP packet with protocol %d" % proto)
    return ip, body


def hmac_icv(c, esp_wo_icv, seq_hi):
    _, _, icv_len, h = PROPOSALS[c["proposal"]]
    m = hmac.new(bytes.fromhex(c["auth_key"]), esp_wo_icv + struct.pack("!L", seq_hi), h)
    return m.digest()[:icv_len]


def scapy_decrypt(c, raw, seq, strict=True):
    """Decrypt one outer packet with scapy; return the inner packet bytes."""
    ip, esp_bytes = outer_split(c, raw, strict)
    _, auth, icv_len, _ = PROPOSALS[c["proposal"]]
    hi = seq >> 32
    verify = True
    if auth and c["esn"]:
        # scapy leaves the ESN high half out of ESP ICVs: check it here.
        if not hmac.compare_digest(hmac_icv(c, esp_bytes[:-icv_len], hi), esp_bytes[-icv_len:]):
            raise ValueError("ESN ICV does not verify")
        verify = False
    hl = 40 if c["v6"] else ip.ihl * 4
    hdr = ip.copy()
    hdr.remove_payload()
    if c["v6"]:
        hdr.nh, hdr.plen = 50, None
    else:
        hdr.proto, hdr.len, hdr.chksum = 50, None, None
    pkt = hdr / ESP(esp_bytes)
    pkt = pkt.__class__(bytes(pkt))
    sa = make_sa(c)
    out = sa.decrypt(pkt.copy(), verify=verify, esn_en=c["esn"], esn=hi)
    return bytes(out)


def inner_packets(c):
    """Packets scapy crafts for a case: sizes from tiny to near-MTU; in
    transport mode UDP/1701 and one TCP segment."""
    sizes = c.get("sizes", [1, 13, 64, 200, 1400, 3, 31])
    out = []
    for i, n in enumerate(sizes[: len(c["seqs"])]):
        payload = bytes((i * 7 + j) & 0xFF for j in range(n))
        if c["mode"] == "transport":
            # One TCP segment among the UDP ones: NAT-T treats their checksums
            # differently (RFC 3948 3.1.2).
            l4 = TCP(sport=1701, dport=80, flags="PA", seq=1000 + i) if i == 2 else UDP(sport=1701, dport=1701)
            if c["v6"]:
                p = IPv6(src=c["src"], dst=c["dst"], hlim=61) / l4 / Raw(payload)
            else:
                # Router Alert (RFC 2113) makes a 24-byte header when asked for.
                opts = [IPOption(b"\x94\x04\x00\x00")] if c.get("options") else []
                p = IP(src=c["src"], dst=c["dst"], ttl=61, id=1000 + i, options=opts) / l4 / Raw(payload)
        elif i % 2 == 0:
            p = IP(src="10.1.0.%d" % (i + 1), dst="10.2.0.1", tos=0x28) / UDP(sport=1701, dport=1701) / Raw(payload)
        else:
            p = IPv6(src="fd00:1::%x" % (i + 1), dst="fd00:2::1", tc=0x28) / UDP(sport=1701, dport=1701) / Raw(payload)
        out.append(p.__class__(bytes(p)))
    return out


def expected_inner(c, plain):
    """Apply sluice's documented RFC 3948 3.1.2 option to scapy's plaintext."""
    if not (c["natt"] and c["mode"] == "transport"):
        return plain
    p = (IPv6 if c["v6"] else IP)(plain)
    if UDP in p:
        if c["v6"]:
            del p[UDP].chksum  # option 2: recompute (zero is illegal over IPv6)
        else:
            p[UDP].chksum = 0  # option 3: zero over IPv4
    elif TCP in p:
        del p[TCP].chksum
    return bytes(p)


def nat_rewrite(c, raw):
    """A NAT between peer and sluice: the outer source address changes
    (ESP's ICV does not cover it), so the inner TCP/UDP checksum, computed
    over the peer's private address, no longer matches the header sluice
    hands on: what RFC 3948 3.1.2 is about."""
    if c["v6"]:
        p = IPv6(raw)
        p.src = "2001:db8:ffff::77"  # the UDP checksum stays 0, as scapy sent it
    else:
        p = IP(raw)
        p.src = "192.0.2.77"
        del p.chksum
    return bytes(p)


def encrypt(c):
    sa = make_sa(c)
    pkts = []
    for p, seq in zip(inner_packets(c), c["seqs"]):
        # scapy reads "seq_num or self.seq_num", so a low half of 0 cannot be
        # passed as an argument: set the SA's counter instead.
        sa.seq_num = seq & 0xFFFFFFFF
        enc = sa.encrypt(p, esn_en=c["esn"], esn=seq >> 32)
        raw = bytes(enc)
        if c["natt"] and not c["v6"]:
            # scapy 2.5.0 freezes the IPv4 NAT-T UDP length before adding ESP
            # (it rebuilds the IP header first), leaving 8: set the real one.
            hl = (raw[0] & 15) * 4
            raw = raw[: hl + 4] + struct.pack("!H", len(raw) - hl) + raw[hl + 6:]
        _, auth, icv_len, _ = PROPOSALS[c["proposal"]]
        if auth and c["esn"]:
            # Re-sign with the ESN high half (RFC 4303 2.2.1), which scapy omits.
            esp_start = len(raw) - len(bytes(enc[ESP]))
            raw = raw[:-icv_len] + hmac_icv(c, raw[esp_start:-icv_len], seq >> 32)
        if c["natt"]:
            raw = nat_rewrite(c, raw)
        plain = scapy_decrypt(c, raw, seq, strict=False)
        pkts.append({
            "seq": seq,
            "wire": raw.hex(),
            "inner": bytes(p).hex(),
            "expect": expected_inner(c, plain).hex(),
        })
    return {"name": c["name"], "packets": pkts}


def decrypt(c):
    pkts = []
    for w in c["packets"]:
        try:
            pkts.append({"inner": scapy_decrypt(c, bytes.fromhex(w["wire"]), w["seq"]).hex()})
        except Exception as e:  # report, let the Go test fail with the reason
            pkts.append({"error": "%s: %s" % (type(e).__name__, e)})
    return {"name": c["name"], "packets": pkts}


def main():
    req = json.load(sys.stdin)
    fn = {"encrypt": encrypt, "decrypt": decrypt}[req["op"]]
    json.dump({"cases": [fn(c) for c in req["cases"]]}, sys.stdout)


if __name__ == "__main__":
    main()
