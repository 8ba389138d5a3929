#!/usr/bin/python3
"""Independent dissector for sluice-bench's generated frames, on python3-scapy
(Debian, 2.5.0). Run by bench/gen/scapy_test.go.

Reads one JSON request on stdin, a list of groups of frames with their SAs:
  {"groups": [{"sas": {"<spi>": {"proposal", "enc_key", "auth_key"}},
               "frames": ["<hex>", ...]}, ...]}
and writes one JSON answer on stdout, {"groups": [{"frames": [...]}, ...]}:
for every frame, what scapy (and only
scapy, plus the RFC arithmetic written out below) finds in it:

  outer:  family, src, dst, ip_checksum_ok (IPv4), udp sport/dport/len and
          udp_checksum_ok when ESP travels in UDP (RFC 3948)
  esp:    spi, seq, and "decrypt": "ok" | "auth-failed" | "no-sa", decrypting
          a copy (SecurityAssociation.decrypt mutates its argument)
  inner:  udp sport/dport/len/checksum_ok (over the outer addresses, as
          transport mode requires), then L2TP: flags, version, tunnel,
          session, length; data messages: the PPP frame (scapy's HDLC and PPP
          layers): address, control, protocol, inner IPv4 length and checksum;
          control messages: the Message Type AVP (RFC 2661 section 4.4.1),
          read from the bytes.

scapy 2.5.0 cannot decrypt ESP in UDP behind an IPv6 header (_decrypt_esp
sets "nh" on the UDP layer), so the script checks the UDP header itself and
hands scapy the ESP packet directly behind the IP header, for both families.
"""
import json
import struct
import sys

from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation, IPSecIntegrityError
from scapy.layers.l2 import Ether
from scapy.layers.l2tp import L2TP
from scapy.layers.ppp import HDLC, PPP
from scapy.utils import checksum

ALGOS = {
    "aes128gcm16": ("AES-GCM", None),
    "aes256gcm16": ("AES-GCM", None),
    "chacha20poly1305": ("CHACHA20-POLY1305", None),
    "aes128-sha1": ("AES-CBC", "HMAC-SHA1-96"),
    "aes256-sha1": ("AES-CBC", "HMAC-SHA1-96"),
    "aes128-sha256": ("AES-CBC", "SHA2-256-128"),
    "aes256-sha256": ("AES-CBC", "SHA2-256-128"),
}


def make_sa(spi, sa):
    crypt, auth = ALGOS[sa["proposal"]]
    kw = dict(crypt_algo=crypt, crypt_key=bytes.fromhex(sa["enc_key"]))
    if auth:
        kw.update(auth_algo=auth, auth_key=bytes.fromhex(sa["auth_key"]))
    return SecurityAssociation(ESP, spi=spi, **kw)


def pseudo_sum_ok(ip, seg):
    """RFC 768 / RFC 8200 8.1: a UDP checksum over the pseudo header of ip."""
    if isinstance(ip, IP):
        ph = raw(ip)[12:20] + struct.pack("!BBH", 0, 17, len(seg))
    else:
        ph = raw(ip)[8:40] + struct.pack("!IxxxB", len(seg), 17)
    cs = struct.unpack("!H", seg[6:8])[0]
    if cs == 0:
        return isinstance(ip, IP)  # IPv4 may leave it out
    return checksum(ph + seg) == 0


def l2tp_info(payload):
    """Decode the L2TP message in payload (the UDP payload) with scapy."""
    l2 = L2TP(payload)
    out = {
        "control": bool(l2.hdr & 0x800),
        "length_bit": bool(l2.hdr & 0x400),
        "version": int(l2.version),
        "tunnel": int(l2.tunnel_id),
        "session": int(l2.session_id),
    }
    if l2.len is not None:
        out["length"] = int(l2.len)
    if out["control"]:
        # First AVP: M bit, length 8, vendor 0, attribute 0 (Message Type).
        hdr_len = 12
        avp = payload[hdr_len:hdr_len + 8]
        flags_len, vendor, attr, mtype = struct.unpack("!HHHH", avp)
        out["avp0"] = {"mandatory": bool(flags_len & 0x8000), "length": flags_len & 0x3ff,
                       "vendor": vendor, "attribute": attr, "value": mtype}
        return out
    # Data: scapy binds L2TP to PPP; FF 03 makes it HDLC, then PPP.
    ppp_bytes = raw(l2.payload)
    out["ppp_len"] = len(ppp_bytes)
    h = HDLC(ppp_bytes)
    out["ppp_address"] = int(h.address)
    out["ppp_control"] = int(h.control)
    p = h[PPP]
    out["ppp_proto"] = int(p.proto)
    if p.haslayer(IP):
        inner = p[IP]
        out["inner_ip_len"] = int(inner.len)
        out["inner_ip_checksum_ok"] = checksum(raw(inner)[:20]) == 0
    return out


def dissect(sas, frame):
    eth = Ether(frame)
    res = {"len": len(frame), "ethertype": eth.type}
    ip = eth.payload
    if isinstance(ip, IP):
        res["family"] = 4
        res["ip_checksum_ok"] = checksum(raw(ip)[:ip.ihl * 4]) == 0
        res["ip_len"] = int(ip.len)
        proto = ip.proto
    elif isinstance(ip, IPv6):
        res["family"] = 6
        res["ip_len"] = 40 + int(ip.plen)
        proto = ip.nh
    else:
        res["error"] = "not IP"
        return res
    res["src"], res["dst"] = ip.src, ip.dst
    body = raw(ip.payload)
    if res["family"] == 4 and not res["ip_checksum_ok"]:
        return res  # junk: nothing behind it to trust
    if proto == 17:
        sport, dport, ulen = struct.unpack("!HHH", body[:6])
        res["udp"] = {"sport": sport, "dport": dport, "len": ulen,
                      "checksum_ok": pseudo_sum_ok(ip, body[:ulen])}
        if dport == 1701:
            res["l2tp"] = l2tp_info(body[8:ulen])
            return res
        if dport != 4500:
            return res
        esp_bytes = body[8:ulen]
    elif proto == 50:
        esp_bytes = body
    else:
        return res
    esp = ESP(esp_bytes)
    res["esp"] = {"spi": int(esp.spi), "seq": int(esp.seq)}
    sa = sas.get(str(esp.spi))
    if sa is None:
        res["esp"]["decrypt"] = "no-sa"
        return res
    # scapy decrypts IP/ESP: rebuild the outer header without the NAT-T UDP
    # header (checked above), on a copy.
    if res["family"] == 4:
        outer = IP(raw(ip)[:ip.ihl * 4])
        outer.proto = 50
        outer.len = None
        outer.chksum = None
        pkt = IP(raw(outer / ESP(esp_bytes)))
    else:
        outer = IPv6(raw(ip)[:40])
        outer.nh = 50
        outer.plen = None
        pkt = IPv6(raw(outer / ESP(esp_bytes)))
    try:
        plain = make_sa(esp.spi, sa).decrypt(pkt.copy())
    except IPSecIntegrityError:
        res["esp"]["decrypt"] = "auth-failed"
        return res
    res["esp"]["decrypt"] = "ok"
    inner_ip = plain
    seg = raw(inner_ip.payload)
    sport, dport, ulen = struct.unpack("!HHH", seg[:6])
    res["inner_udp"] = {"sport": sport, "dport": dport, "len": ulen,
                        "checksum_ok": pseudo_sum_ok(inner_ip, seg[:ulen])}
    res["l2tp"] = l2tp_info(seg[8:ulen])
    return res


def main():
    req = json.load(sys.stdin)
    out = []
    for g in req["groups"]:
        out.append({"frames": [dissect(g["sas"], bytes.fromhex(f)) for f in g["frames"]]})
    json.dump({"groups": out}, sys.stdout)


if __name__ == "__main__":
    main()
