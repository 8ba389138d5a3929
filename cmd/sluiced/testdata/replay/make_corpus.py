#!/usr/bin/python3
"""Build the offline-replay corpus for `sluiced replay` with scapy alone.

This corpus is the independent oracle for sluice's replay tests: every frame,
every expected output record and every expected counter is built here, with
python3-scapy 2.5.0, from the scenario's design. Nothing is taken from
sluice's own code or from running it.

Outputs (next to this script, or in --out DIR):

  config.yaml           the sluice config of the scenario (ARCHITECTURE.md format)
  in.pcap               the frames, linktype Ethernet (1)
  expected-deliver.pcap one record per data message delivered, linktype RAW (101)
  expected-punt.pcap    one record per punted packet, linktype RAW (101)
  expected-stats.json   the counters, in ARCHITECTURE.md's `--stats` shape
  README.md             the scenario table, generated from the same list

Determinism: fixed keys (derived from fixed labels with SHA-512), fixed ESP
IVs (the 64-bit sequence number, a counter IV as RFC 4106 section 3.1
allows), fixed IP ids, fixed timestamps, and our own pcap writer, so two runs
produce identical bytes. The script then checks its own outputs against two
independent readers: a fresh scapy SA decrypts every ESP frame, and tshark
dissects in.pcap with ESP decryption and ICV checking turned on.

Run: /usr/bin/python3 make_corpus.py [--out DIR | --verify]
"""

import argparse
import dataclasses
import hashlib
import json
import os
import struct
import sys
import tempfile

import yaml
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, raw
from scapy.contrib.ikev2 import IKEv2, IKEv2_payload_Nonce
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.ipsec import ESP, SecurityAssociation

HERE = os.path.dirname(os.path.abspath(__file__))

SERVER_IP, CLIENT1_IP, CLIENT2_IP, STRANGER_IP = "10.99.0.1", "10.99.0.2", "10.99.0.3", "10.99.0.77"
SERVER_MAC, CLIENT1_MAC, CLIENT2_MAC = "02:00:5e:99:00:01", "02:00:5e:99:00:02", "02:00:5e:99:00:03"
PPP_CLIENT, PPP_SERVER = "192.168.42.10", "192.168.42.1"  # addresses inside the PPP link

TIME_BASE = 1_700_000_000  # 2023-11-14T22:13:20Z; frame i is at TIME_BASE + i ms
ETH_MIN = 60               # IEEE 802.3 minimum frame without FCS: short frames get zero padding
REPLAY_WINDOW = 64
DROP_REASONS = [  # ARCHITECTURE.md's fixed vocabulary, in its order
    "malformed", "not-for-us", "esp-unknown-spi", "esp-auth-failed", "esp-replay",
    "esp-malformed", "esp-sa-expired", "l2tp-cleartext", "firewall", "l2tp-malformed",
    "l2tp-unknown-session", "l2tp-wrong-sa", "punt-queue-full", "tx-ring-full",
]


def fixed_key(label, n):
    """n bytes of test key material, reproducible from a label."""
    return hashlib.sha512(b"sluice replay corpus " + label.encode()).digest()[:n]


@dataclasses.dataclass
class SA:
    """One SA of config.yaml, with what scapy needs to speak it."""
    name: str
    spi: int
    direction: str
    src: str
    dst: str
    proposal: str  # swanctl name
    key: bytes     # AEAD: key followed by the 4-byte salt (RFC 4106 section 8.1)
    pair: str = ""

    def scapy(self):
        """A fresh scapy SA (RFC 4106 AES-GCM with a 16-byte ICV, transport mode)."""
        return SecurityAssociation(ESP, spi=self.spi, crypt_algo="AES-GCM", crypt_key=self.key)


SAS = {
    "in-client1": SA("in-client1", 0x0000C001, "in", CLIENT1_IP, SERVER_IP, "aes128gcm16",
                     fixed_key("in-client1", 20), "out-client1"),
    "out-client1": SA("out-client1", 0x0000C002, "out", SERVER_IP, CLIENT1_IP, "aes128gcm16",
                      fixed_key("out-client1", 20)),
    "in-client2": SA("in-client2", 0x0000C003, "in", CLIENT2_IP, SERVER_IP, "aes256gcm16",
                     fixed_key("in-client2", 36), "out-client2"),
    "out-client2": SA("out-client2", 0x0000C004, "out", SERVER_IP, CLIENT2_IP, "aes256gcm16",
                      fixed_key("out-client2", 36)),
}
# An SA the box does not have, for the unknown-SPI case.
STRANGER_SA = SA("stranger", 0xDEAD0001, "in", CLIENT1_IP, SERVER_IP, "aes128gcm16", fixed_key("stranger", 20))

# Static L2TP tunnels: local tunnel id -> (bound inbound SA, {local session id: peer session id}).
TUNNELS = {1: ("in-client1", 7, {1: 9}), 2: ("in-client2", 8, {1: 3})}


@dataclasses.dataclass
class Frame:
    """One frame of in.pcap and everything the design says should happen to it."""
    group: str
    what: str
    fate: str               # the README's "expected fate" column
    why: str
    data: bytes = b""       # the Ethernet frame
    drop: str = ""          # drop reason, if dropped
    sa: str = ""            # the SA whose ESP it carries (its counters move only with sa_result)
    sa_result: str = ""     # "ok" (authenticated, passed replay), "auth", "replay"
    plain: bytes = b""      # the IP packet we encrypted (transport mode), or sent in clear
    rule: str = ""          # "10" or "default": what the rule table counts it under
    session: tuple = ()     # (tunnel, session) when delivered
    deliver: bool = False   # one expected-deliver record (the inner IP packet)
    punt: str = ""          # "l2tp-control" or "ike": one expected-punt record
    keepalive: bool = False
    kernel: bool = False    # passed to the kernel by the steering program
    tshark: dict = dataclasses.field(default_factory=dict)  # fields tshark must show


class Corpus:
    """Frames in in.pcap order, plus builders shared by the scenario groups."""

    def __init__(self):
        self.frames = []
        self.ip_id = 0x4000
        self.esp_sas = {}  # name -> scapy SA used for encryption (one per SA, like a peer)

    def next_id(self):
        self.ip_id += 1
        return self.ip_id

    def add(self, frame, data):
        if len(data) < ETH_MIN:
            data += b"\x00" * (ETH_MIN - len(data))
        frame.data = data
        self.frames.append(frame)
        return frame

    def ip(self, src, dst, **kw):
        return IP(src=src, dst=dst, id=self.next_id(), ttl=64, **kw)

    def ether(self, src_ip):
        return Ether(src=CLIENT2_MAC if src_ip == CLIENT2_IP else CLIENT1_MAC, dst=SERVER_MAC, type=0x0800)

    def esp(self, sa, plain, seq):
        """Encrypt plain (an IP packet) in transport mode; return the outer IP packet bytes.

        The IV is the sequence number as a 64-bit counter (RFC 4106 section 3.1),
        unique per key because every (SA, seq) pair is encrypted at most once.
        """
        s = self.esp_sas.setdefault(sa.name, sa.scapy())
        return raw(s.encrypt(plain, seq_num=seq, iv=struct.pack(">Q", seq)))


# ---- payload builders (RFC 2661 and RFC 1661 wire formats, written out by hand) ----

def ppp_ip(ip_pkt):
    """PPP in HDLC-like framing as L2TP carries it: address 0xff, control 0x03,
    protocol 0x0021 = IPv4 (RFC 1661 section 2, RFC 1332)."""
    return b"\xff\x03\x00\x21" + raw(ip_pkt)


def l2tp_data(tunnel, session, payload, version=2):
    """An L2TP data message header with T=0, L=1, S=0 (RFC 2661 section 3.1)."""
    return struct.pack(">HHHH", 0x4000 | version, 8 + len(payload), tunnel, session) + payload


def avp(attr, value):
    """A mandatory, non-hidden IETF AVP (RFC 2661 section 4.1)."""
    return struct.pack(">HHH", 0x8000 | (6 + len(value)), 0, attr) + value


def l2tp_control(tunnel, session, ns, nr, avps):
    """An L2TP control message header with T=1, L=1, S=1 (RFC 2661 section 3.1)."""
    body = b"".join(avps)
    return struct.pack(">HHHHHH", 0xC802, 12 + len(body), tunnel, session, ns, nr) + body


HELLO = [avp(0, struct.pack(">H", 6))]  # Message Type 6 = HELLO (RFC 2661 section 6.5)
SCCRQ = [                                # RFC 2661 section 6.1, mandatory AVPs
    avp(0, struct.pack(">H", 1)),        # Message Type 1 = SCCRQ
    avp(2, b"\x01\x00"),                 # Protocol Version 1, revision 0
    avp(7, b"client1"),                  # Host Name
    avp(3, struct.pack(">I", 3)),        # Framing Capabilities: sync and async
    avp(9, struct.pack(">H", 7)),        # Assigned Tunnel ID
]


def icmp_echo(c, total_len, seq):
    """An inner IPv4 ICMP echo request of exactly total_len bytes (>= 28)."""
    pad = bytes((seq * 7 + j) & 0xFF for j in range(total_len - 28))
    return c.ip(PPP_CLIENT, PPP_SERVER) / ICMP(type=8, id=0x5100, seq=seq) / Raw(pad)


def l2tp_udp(c, src, payload):
    """IP/UDP 1701 -> 1701 to the server (RFC 2661 section 8.1) carrying payload."""
    return c.ip(src, SERVER_IP) / UDP(sport=1701, dport=1701) / Raw(payload)


def esp_l2tp_frame(c, group, what, sa_name, seq, l2tp, **expect):
    """A frame carrying L2TP over UDP/1701 inside ESP of sa_name, sequence seq."""
    sa = SAS.get(sa_name, STRANGER_SA)
    plain = l2tp_udp(c, sa.src, l2tp)
    f = Frame(group, what, sa=sa_name, plain=raw(plain), **expect)
    c.add(f, raw(c.ether(sa.src)) + c.esp(sa, plain, seq))
    f.tshark.update({"esp.spi": f"0x{sa.spi:08x}", "esp.sequence": str(seq)})
    return f


# ---- scenario groups, in in.pcap order ----

def group_a(c):
    """a) 20 valid ESP of in-client1, seq 1..20, L2TP data tunnel 1 session 1: delivered."""
    for i in range(20):
        size = 28 + (1300 - 28) * i // 19  # inner IPv4 total length 28..1300
        f = esp_l2tp_frame(
            c, "a", f"ESP in-client1 seq {i + 1}, L2TP data t1/s1, inner ICMP {size} B", "in-client1", i + 1,
            l2tp_data(1, 1, ppp_ip(icmp_echo(c, size, i + 1))),
            fate="delivered", why="authentic, new sequence number, rule 10 accepts, session 1/1 exists",
            sa_result="ok", rule="10", session=(1, 1), deliver=True)
        f.tshark.update({"l2tp.tunnel": "1", "l2tp.session": "1", "l2tp.type": "0"})


def group_b(c):
    """b) seq 21 carries an L2TP HELLO: punted to the control plane."""
    f = esp_l2tp_frame(
        c, "b", "ESP in-client1 seq 21, L2TP control HELLO t1/s0 Ns 0 Nr 0", "in-client1", 21,
        l2tp_control(1, 0, 0, 0, HELLO),
        fate="punted l2tp-control", why="control message (T=1) inside IPsec goes to the control plane",
        sa_result="ok", rule="10", punt="l2tp-control")
    f.tshark.update({"l2tp.tunnel": "1", "l2tp.session": "0", "l2tp.type": "1", "l2tp.avp.message_type": "6"})


def group_c(c):
    """c) an exact duplicate of seq 5."""
    dup = next(f for f in c.frames if f.tshark.get("esp.sequence") == "5" and f.sa == "in-client1")
    f = Frame("c", "exact duplicate of frame 5 (seq 5)", fate="drop esp-replay",
              why="sequence number 5 already seen (RFC 4303 section 3.4.3)",
              drop="esp-replay", sa="in-client1", sa_result="replay", plain=dup.plain, tshark=dict(dup.tshark))
    c.add(f, dup.data)


def group_d(c):
    """d) seq 200 (delivered) moves the window to 137..200; seq 100 is then left of it."""
    f = esp_l2tp_frame(
        c, "d", "ESP in-client1 seq 200, L2TP data t1/s1, inner ICMP 100 B", "in-client1", 200,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 100, 200))),
        fate="delivered", why="authentic, ahead of the window: the window slides to 137..200",
        sa_result="ok", rule="10", session=(1, 1), deliver=True)
    f.tshark.update({"l2tp.tunnel": "1", "l2tp.session": "1"})
    esp_l2tp_frame(
        c, "d", "ESP in-client1 seq 100 (authentic), L2TP data t1/s1", "in-client1", 100,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 64, 100))),
        fate="drop esp-replay", why=f"200 - 100 >= {REPLAY_WINDOW}: left of the window, refused before decryption",
        drop="esp-replay", sa_result="replay")


def group_e(c):
    """e) seq 201 with the last ICV bit flipped."""
    f = esp_l2tp_frame(
        c, "e", "ESP in-client1 seq 201, last bit of the ICV flipped", "in-client1", 201,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 84, 201))),
        fate="drop esp-auth-failed", why="ICV does not verify; the window is not updated",
        drop="esp-auth-failed", sa_result="auth")
    f.data = f.data[:-1] + bytes([f.data[-1] ^ 0x01])
    f.tshark["esp.icv_bad"] = "1"


def group_f(c):
    """f) SPI 0xdead0001: no such SA (a well-formed, authentic packet of an SA we lack)."""
    esp_l2tp_frame(
        c, "f", "ESP SPI 0xdead0001 seq 1 (an SA the box does not have)", STRANGER_SA.name, 1,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 1))),
        fate="drop esp-unknown-spi", why="no inbound SA for (0xdead0001, 10.99.0.1)", drop="esp-unknown-spi")


def group_g(c):
    """g) SPI 0xc001 cut to 8 (header) + 8 (IV) + 4 bytes of ESP."""
    sa = SAS["in-client1"]
    full = IP(c.esp(sa, l2tp_udp(c, CLIENT1_IP, l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 206)))), 206))
    cut = raw(full[ESP])[:20]
    outer = c.ip(CLIENT1_IP, SERVER_IP, proto=50) / Raw(cut)
    c.add(Frame("g", "ESP in-client1 seq 206 truncated to 20 bytes of ESP", fate="drop esp-malformed",
                why="known SPI but shorter than header + IV + ICV (8 + 8 + 16)", drop="esp-malformed", sa="in-client1",
                tshark={"esp.spi": "0x0000c001", "esp.sequence": "206"}),
          raw(c.ether(CLIENT1_IP) / outer))


def group_h(c):
    """h) L2TP outside IPsec, data and SCCRQ: the seed rule's case."""
    for what, l2tp, ttype in (
            ("cleartext UDP/1701 L2TP data t1/s1", l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 1))), "0"),
            ("cleartext UDP/1701 L2TP control SCCRQ t0/s0", l2tp_control(0, 0, 0, 0, SCCRQ), "1")):
        plain = l2tp_udp(c, CLIENT1_IP, l2tp)
        c.add(Frame("h", what, fate="drop l2tp-cleartext",
                    why="rule 10 needs match-ipsec; the default action drops UDP/1701",
                    drop="l2tp-cleartext", plain=raw(plain), rule="default",
                    tshark={"l2tp.type": ttype, "udp.dstport": "1701"}),
              raw(c.ether(CLIENT1_IP) / plain))


def group_i(c):
    """i) seq 202 carries DNS (UDP/53) inside IPsec."""
    sa = SAS["in-client1"]
    plain = c.ip(CLIENT1_IP, SERVER_IP) / UDP(sport=33333, dport=53) / DNS(
        id=0x1234, rd=1, qd=DNSQR(qname="example.com"))
    f = Frame("i", "ESP in-client1 seq 202, inner UDP/53 DNS query", fate="drop firewall",
              why="authentic, but no rule accepts UDP/53: the default action drops it",
              drop="firewall", sa="in-client1", sa_result="ok", plain=raw(plain), rule="default",
              tshark={"esp.spi": "0x0000c001", "esp.sequence": "202", "udp.dstport": "53"})
    c.add(f, raw(c.ether(CLIENT1_IP)) + c.esp(sa, plain, 202))


def group_j(c):
    """j) three frames that do not parse below ESP."""
    sa = SAS["in-client1"]
    # 1. A valid ESP packet (seq 207) whose IPv4 header checksum is wrong.
    good_plain = l2tp_udp(c, CLIENT1_IP, l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 207))))
    good = IP(c.esp(sa, good_plain, 207))
    bad = bytearray(raw(good))
    bad[10] ^= 0xA5
    c.add(Frame("j", "ESP in-client1 seq 207 with a wrong IPv4 header checksum", fate="drop malformed",
                why="bad IPv4 header checksum (RFC 791); never reaches the SA", drop="malformed",
                sa="in-client1", plain=raw(good_plain),
                tshark={"ip.checksum.status": "0"}),
          raw(c.ether(CLIENT1_IP)) + bytes(bad))
    # 2. Cleartext UDP/1701 whose UDP length claims 100 bytes more than the IP payload holds.
    plain = l2tp_udp(c, CLIENT1_IP, l2tp_data(1, 1, ppp_ip(icmp_echo(c, 40, 2))))
    udp_len = len(plain[UDP]) + 100
    plain[UDP].len = udp_len
    c.add(Frame("j", f"UDP/1701 with UDP length {udp_len} > IP payload {udp_len - 100}",
                fate="drop malformed", why="UDP length runs past the IP packet (RFC 768)", drop="malformed",
                tshark={"udp.length": str(udp_len)}),
          raw(c.ether(CLIENT1_IP) / plain))
    # 3. IP version 5 with protocol 50 (header checksum valid, ESP payload valid, seq 208).
    plain208 = l2tp_udp(c, CLIENT1_IP, l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 208))))
    v5 = IP(c.esp(sa, plain208, 208))
    v5.version, v5.chksum = 5, None  # scapy recomputes the checksum over the version-5 header
    c.add(Frame("j", "IP version 5, protocol 50 (ESP seq 208 inside)", fate="drop malformed",
                why="IP version is neither 4 nor 6; the steering program still redirects protocol 50",
                drop="malformed", sa="in-client1", plain=raw(plain208), tshark={"ip.version": "5"}),
          raw(c.ether(CLIENT1_IP) / v5))


def group_k(c):
    """k) authentic in-client1 ESP, seq 205, but sent to 10.99.0.77."""
    sa = SAS["in-client1"]
    plain = c.ip(CLIENT1_IP, STRANGER_IP) / UDP(sport=1701, dport=1701) / Raw(
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 205))))
    c.add(Frame("k", "ESP in-client1 seq 205 (authentic) to 10.99.0.77", fate="drop not-for-us",
                why="10.99.0.77 is not in interfaces.eth0.address", drop="not-for-us",
                sa="in-client1", plain=raw(plain),
                tshark={"esp.spi": "0x0000c001", "ip.dst": STRANGER_IP}),
          raw(c.ether(CLIENT1_IP)) + c.esp(sa, plain, 205))


def group_l(c):
    """l) what the steering program leaves to the kernel."""
    eth = c.ether(CLIENT1_IP)
    why = "the steering program passes it (XDP_PASS): not ESP, UDP/4500 or UDP/1701"
    for what, pkt, proto in (
            ("ARP who-has 10.99.0.1", Ether(src=CLIENT1_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
                op=1, hwsrc=CLIENT1_MAC, psrc=CLIENT1_IP, pdst=SERVER_IP), "arp"),
            ("ICMP echo request to 10.99.0.1", eth / c.ip(CLIENT1_IP, SERVER_IP) / ICMP(id=7, seq=1) /
             Raw(bytes(range(56))), "icmp"),
            ("TCP SYN to port 22", eth / c.ip(CLIENT1_IP, SERVER_IP) / TCP(
                sport=40022, dport=22, flags="S", seq=1000, window=64240), "tcp"),
            ("UDP/500 IKE_SA_INIT", eth / c.ip(CLIENT1_IP, SERVER_IP) / UDP(sport=500, dport=500) / IKEv2(
                init_SPI=b"\x11" * 8, exch_type=34, flags="Initiator") / IKEv2_payload_Nonce(
                load=b"\x5a" * 32), "isakmp")):
        c.add(Frame("l", what, fate="passed-to-kernel", why=why, kernel=True,
                    tshark={"frame.protocols": proto}), raw(pkt))


def group_m(c):
    """m) NAT-T port 4500 without ESP: a keepalive and an IKE message."""
    ka = c.ip(CLIENT1_IP, SERVER_IP) / UDP(sport=4500, dport=4500) / Raw(b"\xff")
    c.add(Frame("m", "UDP/4500 single byte 0xff", fate="nat-keepalive",
                why="NAT-keepalive (RFC 3948 section 2.3), absorbed", keepalive=True,
                tshark={"udp.length": "9"}),
          raw(c.ether(CLIENT1_IP) / ka))
    ike = c.ip(CLIENT1_IP, SERVER_IP) / UDP(sport=4500, dport=4500) / Raw(b"\x00\x00\x00\x00") / IKEv2(
        init_SPI=b"\x22" * 8, exch_type=34, flags="Initiator") / IKEv2_payload_Nonce(load=b"\xa5" * 32)
    c.add(Frame("m", "UDP/4500 non-ESP marker + IKE_SA_INIT", fate="punted ike",
                why="four zero bytes mark non-ESP (RFC 3948 section 2.2): IKE for the control plane",
                plain=raw(ike), punt="ike", tshark={"isakmp.ispi": "2222222222222222"}),
          raw(c.ether(CLIENT1_IP) / ike))


def group_n(c):
    """n) seq 203 carries data for tunnel 1 session 99, which does not exist."""
    f = esp_l2tp_frame(
        c, "n", "ESP in-client1 seq 203, L2TP data t1/s99", "in-client1", 203,
        l2tp_data(1, 99, ppp_ip(icmp_echo(c, 60, 203))),
        fate="drop l2tp-unknown-session", why="tunnel 1 has no session 99",
        drop="l2tp-unknown-session", sa_result="ok", rule="10")
    f.tshark.update({"l2tp.tunnel": "1", "l2tp.session": "99"})


def group_o(c):
    """o) in-client2 speaks for tunnel 1 (bound to in-client1), then for its own tunnel 2."""
    f = esp_l2tp_frame(
        c, "o", "ESP in-client2 seq 1 (aes256gcm16), L2TP data t1/s1", "in-client2", 1,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 1))),
        fate="drop l2tp-wrong-sa", why="tunnel 1 is bound to in-client1, not in-client2",
        drop="l2tp-wrong-sa", sa_result="ok", rule="10")
    f.tshark.update({"l2tp.tunnel": "1", "l2tp.session": "1"})
    f = esp_l2tp_frame(
        c, "o", "ESP in-client2 seq 2, L2TP data t2/s1, inner ICMP 200 B", "in-client2", 2,
        l2tp_data(2, 1, ppp_ip(icmp_echo(c, 200, 2))),
        fate="delivered", why="tunnel 2 is bound to in-client2 and has session 1",
        sa_result="ok", rule="10", session=(2, 1), deliver=True)
    f.tshark.update({"l2tp.tunnel": "2", "l2tp.session": "1"})


def group_p(c):
    """p) seq 204 carries UDP/1701 whose L2TP version nibble is 3."""
    f = esp_l2tp_frame(
        c, "p", "ESP in-client1 seq 204, UDP/1701 with L2TP version 3", "in-client1", 204,
        l2tp_data(1, 1, ppp_ip(icmp_echo(c, 60, 204)), version=3),
        fate="drop l2tp-malformed", why="L2TP version other than 2 (RFC 2661 section 3.1)",
        drop="l2tp-malformed", sa_result="ok", rule="10")
    f.tshark.update({"udp.dstport": "1701"})


GROUPS = [group_a, group_b, group_c, group_d, group_e, group_f, group_g, group_h,
          group_i, group_j, group_k, group_l, group_m, group_n, group_o, group_p]

# What the brief designs, written down independently of the Frame list, so a
# slip in a group's bookkeeping fails the build instead of the Go test.
DESIGNED = {
    "drops": {"malformed": 3, "not-for-us": 1, "esp-unknown-spi": 1, "esp-auth-failed": 1, "esp-replay": 2,
              "esp-malformed": 1, "l2tp-cleartext": 2, "firewall": 1, "l2tp-malformed": 1,
              "l2tp-unknown-session": 1, "l2tp-wrong-sa": 1},
    "sa-packets": {"in-client1": 25, "in-client2": 2}, "auth-failures": 1, "replay-drops": 2,
    "rule10": 26, "default": 3, "delivered": 22, "sessions": {(1, 1): 21, (2, 1): 1},
    "punted": {"l2tp-control": 1, "ike": 1}, "nat-keepalives": 1, "passed-to-kernel": 4,
}


# ---- expected outputs ----

def esp_decrypt(frame, sa):
    """scapy's transport-mode decrypt (with ICV check) of the ESP in an Ethernet
    frame, by a fresh SA; returns the IP packet bytes. The IP version nibble is
    forced to 4 first, so the ESP of the version-5 frame can be checked too.
    Raises scapy's IPSecIntegrityError when the ICV does not verify."""
    ip = bytearray(frame[14:])
    ip[0] = 0x40 | (ip[0] & 0x0F)
    pkt = IP(bytes(ip))
    pkt = IP(raw(pkt)[:pkt.len])  # drop Ethernet padding
    return raw(sa.scapy().decrypt(pkt.copy()))  # decrypt() mutates its argument


def udp_payload_len(plain):
    """Length of the UDP payload of an IP packet we built (no options, honest lengths)."""
    return len(IP(plain)[UDP].payload)


def expected_stats(c):
    """Count what the groups put in, in ARCHITECTURE.md's --stats shape."""
    drops = {r: 0 for r in DROP_REASONS}
    sa = {n: ({"packets": 0, "bytes": 0, "auth-failures": 0, "replay-drops": 0} if s.direction == "in"
              else {"packets": 0, "bytes": 0}) for n, s in SAS.items()}
    rule10 = {"packets": 0, "bytes": 0}
    default = {"action": "drop", "packets": 0, "bytes": 0}
    tunnels = {str(t): {"sessions": {str(s): {"packets": 0, "bytes": 0} for s in sess}}
               for t, (_, _, sess) in TUNNELS.items()}
    punted = {"l2tp-control": 0, "ike": 0}
    keepalives = kernel = 0
    for f in c.frames:
        if f.drop:
            drops[f.drop] += 1
        if f.sa in SAS and f.sa_result:
            st = sa[f.sa]
            if f.sa_result == "ok":
                # Transport mode: what ESP protected is the inner UDP header and payload,
                # i.e. the plaintext IP packet minus its 20-byte header (RFC 4303 section 2.3).
                st["packets"] += 1
                st["bytes"] += len(f.plain) - 20
            elif f.sa_result == "auth":
                st["auth-failures"] += 1
            elif f.sa_result == "replay":
                st["replay-drops"] += 1
        if f.rule == "10":
            rule10["packets"] += 1
            rule10["bytes"] += len(f.plain)
        elif f.rule == "default":
            default["packets"] += 1
            default["bytes"] += len(f.plain)
        if f.session:
            s = tunnels[str(f.session[0])]["sessions"][str(f.session[1])]
            s["packets"] += 1
            s["bytes"] += udp_payload_len(f.plain) - 8  # the PPP frame after the 8-byte L2TP data header
        if f.punt:
            punted[f.punt] += 1
        keepalives += f.keepalive
        kernel += f.kernel
    return {
        "interfaces": {"eth0": {"rx-packets": len(c.frames), "rx-bytes": sum(len(f.data) for f in c.frames),
                                "tx-packets": 0, "tx-bytes": 0}},
        "drops": drops,
        "sa": sa,
        "rules": {"WAN_LOCAL": {"10": rule10, "default": default}},
        "l2tp": {"control-punted": punted["l2tp-control"], "tunnels": tunnels},
        "punted": punted,
        "nat-keepalives": keepalives,
        "passed-to-kernel": kernel,
    }


def check_design(c, stats):
    """The Frame list adds up to the numbers the brief designs."""
    want = {r: DESIGNED["drops"].get(r, 0) for r in DROP_REASONS}
    assert stats["drops"] == want, (stats["drops"], want)
    for n, p in DESIGNED["sa-packets"].items():
        assert stats["sa"][n]["packets"] == p, (n, stats["sa"][n])
    assert stats["sa"]["in-client1"]["auth-failures"] == DESIGNED["auth-failures"]
    assert stats["sa"]["in-client1"]["replay-drops"] == DESIGNED["replay-drops"]
    assert stats["rules"]["WAN_LOCAL"]["10"]["packets"] == DESIGNED["rule10"]
    assert stats["rules"]["WAN_LOCAL"]["default"]["packets"] == DESIGNED["default"]
    assert sum(f.deliver for f in c.frames) == DESIGNED["delivered"]
    for (t, s), p in DESIGNED["sessions"].items():
        assert stats["l2tp"]["tunnels"][str(t)]["sessions"][str(s)]["packets"] == p
    assert stats["punted"] == DESIGNED["punted"]
    assert stats["nat-keepalives"] == DESIGNED["nat-keepalives"]
    assert stats["passed-to-kernel"] == DESIGNED["passed-to-kernel"]
    # Every frame has exactly one fate.
    for f in c.frames:
        fates = [bool(f.drop), f.deliver, bool(f.punt), f.keepalive, f.kernel]
        assert sum(fates) == 1, (f.group, f.what, fates)


def write_pcap(path, linktype, records):
    """A classic little-endian microsecond pcap (no scapy writer: its headers and
    linktype guesses are not ours to depend on). records: (frame index, bytes)."""
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for idx, data in records:
            us = idx * 1000
            fh.write(struct.pack("<IIII", TIME_BASE + us // 1_000_000, us % 1_000_000, len(data), len(data)))
            fh.write(data)


def config_yaml():
    """config.yaml in ARCHITECTURE.md's format, written out so comments survive."""
    out = ["# sluiced replay scenario: generated by make_corpus.py, do not edit by hand.",
           "# The keys are test keys, public on purpose (SHA-512 of fixed labels).",
           "interfaces:", "  eth0:", "    driver: pcap", f"    address: [{SERVER_IP}]",
           "ipsec:", "  sa:"]
    for s in SAS.values():
        out += [f"    {s.name}:", f"      spi: 0x{s.spi:08x}", f"      direction: {s.direction}",
                "      mode: transport", f"      source: {s.src}", f"      destination: {s.dst}",
                "      encapsulation: none", f"      proposal: {s.proposal}",
                f"      enc-key: 0x{s.key.hex()}  # key || 4-byte salt (RFC 4106 section 8.1)"]
        if s.direction == "in":
            out += ["      esn: false", f"      replay-window: {REPLAY_WINDOW}", f"      pair: {s.pair}"]
    out += ["firewall:", "  name:", "    WAN_LOCAL:", "      default-action: drop", "      rule:",
            "        10:", "          action: accept", "          protocol: udp",
            "          destination: {port: 1701}", "          ipsec: match-ipsec",
            "  interface:", "    eth0: {local: WAN_LOCAL}",
            "l2tp:", "  static:", "    tunnel:"]
    for t, (sa, peer, sess) in TUNNELS.items():
        ss = ", ".join(f"{s}: {{peer-session: {p}}}" for s, p in sess.items())
        out.append(f"      {t}: {{peer-tunnel: {peer}, sa: {sa}, session: {{{ss}}}}}")
    return "\n".join(out) + "\n"


def sas_from_config(text):
    """Read the SAs back from config.yaml, so the checks use what sluice will read."""
    cfg = yaml.safe_load(text)
    got = {}
    for name, s in cfg["ipsec"]["sa"].items():
        key = s["enc-key"]  # YAML 1.1 hands unquoted 0x... over as an int
        key = key.to_bytes(len(SAS[name].key), "big") if isinstance(key, int) else bytes.fromhex(key[2:])
        got[name] = SA(name, int(s["spi"]), s["direction"], s["source"], s["destination"], s["proposal"], key)
    assert cfg["interfaces"]["eth0"]["address"] == [SERVER_IP]
    rule = cfg["firewall"]["name"]["WAN_LOCAL"]["rule"][10]
    assert rule == {"action": "accept", "protocol": "udp", "destination": {"port": 1701}, "ipsec": "match-ipsec"}
    assert cfg["l2tp"]["static"]["tunnel"][2] == {"peer-tunnel": 8, "sa": "in-client2", "session": {1: {"peer-session": 3}}}
    return got


README_HEAD = """# Offline replay corpus (independent oracle)

Fixtures for `sluiced replay` (ARCHITECTURE.md, "Offline replay"). Every frame,
every expected record and every expected counter here is built by
`make_corpus.py` with python3-scapy 2.5.0 from the scenario's design; nothing
comes from sluice's code or from running it. Do not edit the outputs by hand:
change the script and regenerate.

| file | what |
| --- | --- |
| `config.yaml` | the scenario's sluice config: eth0 (pcap, address 10.99.0.1), SAs in/out-client1 (aes128gcm16) and in/out-client2 (aes256gcm16), replay window 64, WAN_LOCAL = the seed rule 10 with default drop, static L2TP tunnels 1 (in-client1) and 2 (in-client2) |
| `in.pcap` | the frames below, linktype Ethernet |
| `expected-deliver.pcap` | linktype RAW (101): one record per delivered data message, the inner IP packet (transport mode: the outer IP header with protocol = ESP's next header, length and checksum fixed, exactly what scapy's transport-mode decrypt returns; the script checks that it is byte-identical to the plaintext packet it encrypted) |
| `expected-punt.pcap` | linktype RAW (101): the decrypted HELLO of group b, then the IKE packet of group m as received |
| `expected-stats.json` | the `--stats` counters |
| `make_corpus.py`, `oracle_check.py` | the generator and its independent checks |

Regenerate (needs python3-scapy, python3-yaml and tshark, as CI installs them):

    /usr/bin/python3 make_corpus.py            # rewrites the files in this folder and checks them
    /usr/bin/python3 make_corpus.py --verify   # rebuilds in a temporary folder, fails if anything differs

Every record's timestamp is 2023-11-14T22:13:20Z plus the frame index in
milliseconds; output records carry the timestamp of the frame that caused them.
Frames shorter than 60 bytes carry Ethernet zero padding, as a NIC delivers
them: lengths must come from the IP and UDP headers, never from the frame.

## Counter semantics

- `sa.X.packets`/`bytes`: packets that authenticated and passed the replay
  check; bytes = what ESP protected without padding and trailer (transport
  mode: the inner UDP header plus UDP payload). `auth-failures`,
  `replay-drops`: refused ones. Outbound SAs stay zero (nothing is sent).
- `rules.WAN_LOCAL.10`: every packet rule 10 matched, bytes = the inner IP
  packet's total length, including packets later punted or refused by L2TP
  processing (groups b, n, o, p). `default`: what fell through to the default
  drop (the two cleartext L2TP packets and the DNS one), bytes = IP total length.
- `l2tp.tunnels.T.sessions.S`: data messages delivered; bytes = the PPP frame
  after the 8-byte L2TP header.
- `interfaces.eth0.rx-*`: every frame of in.pcap, kernel-passed ones included;
  tx is 0 (replay answers nothing: the HELLO is punted, not acknowledged).
- Never reaching the rule table: ESP refusals (unknown SPI, replay, auth,
  ESP-malformed), not-for-us, malformed, kernel-passed frames, the keepalive
  and the IKE packet.

ESP IVs are the 64-bit sequence number (a counter IV, RFC 4106 section 3.1).

## Scenario

Columns: `SA` is what the frame does to its SA's counters (`ok` = packets and
bytes, `auth` = auth-failures, `replay` = replay-drops, `-` = nothing);
`rule` is what the rule table counts it under (`-` = it never reaches the
rule table).

| # | group | packet | expected fate | SA | rule | why |
| --- | --- | --- | --- | --- | --- | --- |
"""


def readme(c, stats):
    rows = [f"| {i + 1} | {f.group} | {f.what} | {f.fate} | "
            f"{f.sa + ' ' + f.sa_result if f.sa_result else '-'} | {f.rule or '-'} | {f.why} |"
            for i, f in enumerate(c.frames)]
    tail = ["", "## Totals", "", "```json", json.dumps(stats, indent=2), "```", ""]
    return README_HEAD + "\n".join(rows) + "\n" + "\n".join(tail)


def build():
    """Run every group, in in.pcap order."""
    c = Corpus()
    for g in GROUPS:
        g(c)
    return c


def write_all(c, out):
    """Write every output file into out; return the expected stats."""
    stats = expected_stats(c)
    check_design(c, stats)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(config_yaml())
    write_pcap(os.path.join(out, "in.pcap"), 1, [(i, f.data) for i, f in enumerate(c.frames)])
    # Deliver and punt records of ESP frames are what a fresh scapy SA's
    # transport-mode decrypt returns; oracle_check proves they are byte-identical
    # to the plaintext packets we encrypted. The IKE packet is punted as received.
    def record(f):
        return esp_decrypt(f.data, SAS[f.sa]) if f.sa else f.plain
    write_pcap(os.path.join(out, "expected-deliver.pcap"), 101,
               [(i, record(f)) for i, f in enumerate(c.frames) if f.deliver])
    write_pcap(os.path.join(out, "expected-punt.pcap"), 101,
               [(i, record(f)) for i, f in enumerate(c.frames) if f.punt])
    with open(os.path.join(out, "expected-stats.json"), "w") as fh:
        json.dump(stats, fh, indent=2)
        fh.write("\n")
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write(readme(c, stats))
    return stats


OUTPUTS = ["config.yaml", "in.pcap", "expected-deliver.pcap", "expected-punt.pcap", "expected-stats.json", "README.md"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="folder to write into (default: this script's folder)")
    ap.add_argument("--verify", action="store_true",
                    help="rebuild in a temporary folder and fail if it differs from the committed files")
    args = ap.parse_args()
    import oracle_check  # next to this script
    c = build()
    if args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            write_all(c, tmp)
            oracle_check.run(c, tmp)
            diff = [n for n in OUTPUTS
                    if open(os.path.join(tmp, n), "rb").read() != open(os.path.join(HERE, n), "rb").read()]
        if diff:
            sys.exit(f"make_corpus: regenerated files differ from the committed ones: {', '.join(diff)}")
        print("make_corpus: committed corpus is reproducible")
        return
    write_all(c, args.out)
    oracle_check.run(c, args.out)
    print(f"make_corpus: wrote {len(c.frames)} frames and the expected outputs to {args.out}")


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # keep __pycache__ out of the fixtures folder
    sys.path.insert(0, HERE)
    main()
