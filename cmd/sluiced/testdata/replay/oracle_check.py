"""Independent checks of the replay corpus that make_corpus.py wrote.

make_corpus.py keeps its own books (the Frame list); this module checks the
files on disk against readers that share none of that bookkeeping:

- our pcap reader and the JSON loader: headers, linktypes, record counts and
  the rx counters;
- fresh scapy SAs, keyed from config.yaml as sluice will read it: every ESP
  frame decrypts (or fails its ICV) as designed, and the transport-mode
  decrypt output is byte-identical to the plaintext packet we encrypted, which
  is what expected-deliver.pcap and expected-punt.pcap hold;
- a reference anti-replay window (RFC 4303 section 3.4.3), fed the frames in
  order, reproduces the designed replay and auth verdicts;
- scapy's L2TP dissector re-derives the session byte counters;
- tshark, with ESP decryption and ICV checking on, dissects in.pcap and both
  expected pcaps: protocols, SPIs, sequence numbers, ICV verdicts, L2TP ids,
  the bad IPv4 checksum, the bad UDP length, IP version 5.
"""

import json
import os
import shutil
import struct
import subprocess

from scapy.all import IP, UDP, Ether, raw
from scapy.layers.ipsec import ESP, IPSecIntegrityError
from scapy.layers.l2tp import L2TP

import make_corpus as mc


def read_pcap(path):
    """Read a classic little-endian microsecond pcap: (linktype, [record bytes])."""
    with open(path, "rb") as fh:
        b = fh.read()
    magic, vmaj, vmin, _, _, _, linktype = struct.unpack_from("<IHHiIII", b, 0)
    assert (magic, vmaj, vmin) == (0xA1B2C3D4, 2, 4), f"{path}: not a classic pcap"
    recs, off = [], 24
    while off < len(b):
        _, _, incl, orig = struct.unpack_from("<IIII", b, off)
        assert incl == orig, f"{path}: truncated record at {off}"
        recs.append(b[off + 16:off + 16 + incl])
        off += 16 + incl
    assert off == len(b), f"{path}: trailing bytes"
    return linktype, recs


def ones_complement_sum(b):
    """The 16-bit one's complement sum of RFC 1071; 0xffff over a header with a valid checksum."""
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def sa_for(f, sas):
    return sas.get(f.sa, mc.STRANGER_SA)


def reaches_sa(f):
    """The frame parses, is for us, has a known SPI and is long enough: the SA sees it."""
    return f.sa in mc.SAS and f.drop not in ("malformed", "not-for-us", "esp-malformed")


class ReplayWindow:
    """RFC 4303 section 3.4.3 with a bitmap (Appendix A): check before the ICV,
    update only after it verifies. Independent of sluice's ipsec package."""

    def __init__(self, size):
        self.size, self.top, self.bits = size, 0, 0

    def check(self, seq):
        if seq == 0:
            return False
        if seq > self.top:
            return True
        off = self.top - seq
        return off < self.size and not (self.bits >> off) & 1

    def update(self, seq):
        if seq > self.top:
            self.bits = (self.bits << (seq - self.top)) & ((1 << self.size) - 1)
            self.top = seq
        self.bits |= 1 << (self.top - seq)


def check_scapy(c, sas):
    """Decrypt every ESP frame with a fresh SA; replay verdicts from a reference window."""
    windows = {n: ReplayWindow(mc.REPLAY_WINDOW) for n in mc.SAS}
    for i, f in enumerate(c.frames):
        if not f.sa:
            continue
        where = f"frame {i + 1} ({f.what})"
        sa = sa_for(f, sas)
        esp = ESP(f.data[34:])
        assert esp.spi == sa.spi, where
        try:
            got = mc.esp_decrypt(f.data, sa)
        except IPSecIntegrityError:
            got = None
        if f.sa_result == "auth" or f.drop == "esp-malformed":
            assert got is None, f"{where}: decrypted, but is designed not to authenticate"
        else:
            assert got == f.plain, f"{where}: scapy's transport-mode decrypt differs from the packet encrypted"
        if reaches_sa(f):
            w = windows[f.sa]
            if not w.check(esp.seq):
                verdict = "replay"
            elif got is None:
                verdict = "auth"
            else:
                verdict = "ok"
                w.update(esp.seq)
            assert verdict == f.sa_result, f"{where}: reference window says {verdict}, design says {f.sa_result}"
        else:
            assert not f.sa_result, where


def check_records(c, out, stats):
    """The files on disk: linktypes, records, and counters re-derived by dissection."""
    lt, recs = read_pcap(os.path.join(out, "in.pcap"))
    assert lt == 1 and recs == [f.data for f in c.frames], "in.pcap"
    eth = stats["interfaces"]["eth0"]
    assert (eth["rx-packets"], eth["rx-bytes"]) == (len(recs), sum(map(len, recs))), eth
    for r in recs:
        assert len(r) >= mc.ETH_MIN and Ether(r).dst in (mc.SERVER_MAC, "ff:ff:ff:ff:ff:ff")

    lt, recs = read_pcap(os.path.join(out, "expected-deliver.pcap"))
    want = [f for f in c.frames if f.deliver]
    assert lt == 101 and recs == [f.plain for f in want], "expected-deliver.pcap"
    sessions = {}
    for r, f in zip(recs, want):
        ip = IP(r)
        assert ip.proto == 17 and ip.len == len(r) and ip[UDP].dport == 1701, f.what
        assert ones_complement_sum(r[:ip.ihl * 4]) == 0xFFFF, f"{f.what}: IPv4 header checksum not fixed"
        # scapy's L2TP dissector reads our hand-built header: a v2 data message, L set, S clear.
        l2 = L2TP(raw(ip[UDP].payload))
        assert (l2.version, l2.hdr.control, l2.hdr.length, l2.hdr.sequence) == (2, False, True, False), f.what
        assert (l2.tunnel_id, l2.session_id) == f.session and l2.len == len(ip[UDP].payload), f.what
        s = sessions.setdefault(f.session, [0, 0])
        s[0] += 1
        s[1] += len(raw(l2.payload))
    for (t, sid), (pk, by) in sessions.items():
        assert stats["l2tp"]["tunnels"][str(t)]["sessions"][str(sid)] == {"packets": pk, "bytes": by}, (t, sid)

    lt, recs = read_pcap(os.path.join(out, "expected-punt.pcap"))
    assert lt == 101 and recs == [f.plain for f in c.frames if f.punt], "expected-punt.pcap"
    hello, ike = IP(recs[0]), IP(recs[1])
    l2 = L2TP(raw(hello[UDP].payload))
    assert (l2.version, l2.hdr.control, l2.hdr.length, l2.hdr.sequence) == (2, True, True, True), "HELLO"
    assert (l2.tunnel_id, l2.session_id, l2.ns, l2.nr) == (1, 0, 0, 0), "HELLO"
    # One AVP: M bit, length 8, vendor 0, attribute 0 (Message Type), value 6 (HELLO).
    assert raw(l2.payload) == struct.pack(">HHHH", 0x8008, 0, 0, 6), "HELLO"
    assert ike[UDP].dport == 4500 and raw(ike[UDP].payload)[:4] == b"\x00" * 4, "IKE"

    assert list(stats) == ["interfaces", "drops", "sa", "rules", "l2tp", "punted", "nat-keepalives",
                          "passed-to-kernel"], list(stats)
    assert list(stats["drops"]) == mc.DROP_REASONS


def tshark(path, fields, sas):
    """tshark field output per frame, ESP decryption and ICV checks on."""
    if shutil.which("tshark") is None:
        raise SystemExit("oracle_check: tshark is required (apt-get install tshark)")
    args = ["tshark", "-n", "-r", path, "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-o", "ip.check_checksum:TRUE"]
    for sa in list(sas.values()) + [mc.STRANGER_SA]:
        if sa.direction == "in":
            # "*" addresses, so the frame sent to 10.99.0.77 decrypts too.
            args += ["-o", f'uat:esp_sa:"IPv4","*","*","0x{sa.spi:08x}",'
                           f'"AES-GCM with 16 octet ICV [RFC4106]","0x{sa.key.hex()}","NULL",""']
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for k in fields:
        args += ["-e", k]
    res = subprocess.run(args, check=True, capture_output=True, text=True)
    return [dict(zip(fields, line.split("\t"))) for line in res.stdout.splitlines()]


def check_tshark(c, out, sas):
    expect = []
    for f in c.frames:
        e = dict(f.tshark)
        if f.sa:
            bad = f.sa_result == "auth"
            if f.drop != "esp-malformed" and "ip.version" not in e:
                e["esp.icv_good" if not bad else "esp.icv_bad"] = "1"
        expect.append(e)
    fields = ["frame.len", "frame.protocols"] + sorted({k for e in expect for k in e} - {"frame.protocols"})
    rows = tshark(os.path.join(out, "in.pcap"), fields, sas)
    assert len(rows) == len(c.frames), f"tshark sees {len(rows)} frames, designed {len(c.frames)}"
    for i, (f, e, row) in enumerate(zip(c.frames, expect, rows)):
        where = f"frame {i + 1} ({f.what})"
        assert row["frame.len"] == str(len(f.data)), where
        for k, v in e.items():
            if k == "frame.protocols":
                ok = v in row[k].split(":")
            else:
                ok = v in row[k].split(",")
            assert ok, f"{where}: tshark {k}={row[k]!r}, designed {v!r}"
        if f.session or f.punt == "l2tp-control":
            assert ":esp:udp:l2tp" in row["frame.protocols"], f"{where}: {row['frame.protocols']}"

    rows = tshark(os.path.join(out, "expected-deliver.pcap"), ["frame.protocols", "l2tp.tunnel", "l2tp.session"], sas)
    want = [f for f in c.frames if f.deliver]
    assert len(rows) == len(want)
    for f, row in zip(want, rows):
        assert row["frame.protocols"].startswith("raw:ip:udp:l2tp:ppp:ip:icmp"), row
        assert (row["l2tp.tunnel"], row["l2tp.session"]) == tuple(map(str, f.session)), row
    rows = tshark(os.path.join(out, "expected-punt.pcap"), ["frame.protocols", "l2tp.avp.message_type"], sas)
    assert [r["frame.protocols"] for r in rows] == ["raw:ip:udp:l2tp", "raw:ip:udp:udpencap:isakmp"], rows
    assert rows[0]["l2tp.avp.message_type"] == "6", rows


def run(c, out):
    """Check the corpus in folder out; raise AssertionError on the first mismatch."""
    with open(os.path.join(out, "config.yaml")) as fh:
        sas = mc.sas_from_config(fh.read())
    with open(os.path.join(out, "expected-stats.json")) as fh:
        stats = json.load(fh)
    check_records(c, out, stats)
    check_scapy(c, sas)
    check_tshark(c, out, sas)
