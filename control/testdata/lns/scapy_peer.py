#!/usr/bin/python3
"""An independent L2TP LAC behind IPsec for sluice's LNS, on python3-scapy
(Debian, 2.5.0): scapy's SecurityAssociation encrypts what this script
sends and decrypts sluice's replies (from a copy: decrypt() mutates its
argument); scapy's L2TP layer reads the L2TP header; the AVPs, hidden
AVPs (RFC 2661 section 4.3) and challenge responses (section 5.1.1) are
built and read here, from the RFC, with python's hashlib. Nothing comes
from sluice's code.

Run by control/lns_scapy_test.go. argv[1] is a JSON object with the SAs,
the addresses and the tunnel secret. The script talks to the test on
stdin/stdout, one JSON object per line:

  -> {"op": "send", "frame": HEX}    the test injects the Ethernet frame,
                                     runs the dataplane and the LNS
  <- {"frames": [HEX, ...]}          what sluice transmitted meanwhile
  -> {"op": "advance", "ms": N}      the test moves the LNS's clock
  <- {"frames": [HEX, ...]}
  -> {"op": "result", "name": S, "ok": BOOL, "detail": S}
  -> {"op": "done"}

Every expectation below is RFC 2661's, cited where it is checked.
"""
import hashlib
import json
import struct
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.layers.l2tp import L2TP
from scapy.packet import Raw

CFG = json.loads(sys.argv[1])
SECRET = bytes.fromhex(CFG["secret"])

# Message types (section 4.4.1) and AVP types (sections 4.4.1-4.4.6).
SCCRQ, SCCRP, SCCCN, STOPCCN, HELLO, ICRQ, ICRP, ICCN, CDN = 1, 2, 3, 4, 6, 10, 11, 12, 14
AVP_MSG, AVP_RESULT, AVP_VERSION, AVP_FRAMING, AVP_HOST = 0, 1, 2, 3, 7
AVP_TUNNEL_ID, AVP_RWS, AVP_CHALLENGE, AVP_CHAL_RESP = 9, 10, 11, 13
AVP_SESSION_ID, AVP_SERIAL, AVP_BEARER, AVP_FRAMING_TYPE, AVP_TX_SPEED, AVP_RANDOM = 14, 15, 18, 19, 24, 36


def rpc(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        sys.exit(1)
    return json.loads(line)


def report(name, ok, detail=""):
    sys.stdout.write(json.dumps({"op": "result", "name": name, "ok": bool(ok), "detail": detail}) + "\n")
    sys.stdout.flush()


def avp(attr, value, mandatory=True, hidden=False, vendor=0):
    """One AVP (section 4.1): M|H|rsvd|length(10 bits), vendor, type, value."""
    flags = (0x8000 if mandatory else 0) | (0x4000 if hidden else 0)
    return struct.pack("!HHH", flags | (6 + len(value)), vendor, attr) + value


def hide(attr, value, rv):
    """Section 4.3: the hidden subformat is a 2-byte original length, the
    value and padding (none here); it is XORed with b1 = MD5(attribute type
    (2 octets) + secret + Random Vector), b2 = MD5(secret + c1), ..."""
    plain = struct.pack("!H", len(value)) + value
    out, prev = b"", struct.pack("!H", attr) + SECRET + rv
    for i in range(0, len(plain), 16):
        b = hashlib.md5(prev if i == 0 else SECRET + prev).digest()
        chunk = bytes(x ^ y for x, y in zip(plain[i:i + 16], b))
        out += chunk
        prev = chunk
    return out


def control(tunnel, session, ns, nr, avps):
    """A control message header (section 3.1): T=1, L=1, S=1, version 2."""
    body = b"".join(avps)
    return struct.pack("!HHHHHH", 0xC802, 12 + len(body), tunnel, session, ns, nr) + body


def parse(l2):
    """Header through scapy's L2TP layer; AVPs by section 4.1."""
    h = L2TP(l2)
    if not h.hdr.control or not h.hdr.length or h.version != 2:
        raise ValueError("not an L2TPv2 control message: %r" % h.hdr)
    msg = {"tunnel": h.tunnel_id, "session": h.session_id, "ns": h.ns, "nr": h.nr, "type": None, "avps": {}}
    off, end = 12, h.len
    while off < end:
        flags_len, vendor, attr = struct.unpack("!HHH", l2[off:off + 6])
        n = flags_len & 0x3FF
        if n < 6 or off + n > end:
            raise ValueError("AVP length %d at %d" % (n, off))
        if flags_len & 0x4000:
            raise ValueError("sluice hid AVP %d: not expected" % attr)
        val = l2[off + 6:off + n]
        if vendor == 0:
            msg["avps"][attr] = val
            if attr == AVP_MSG:
                msg["type"] = struct.unpack("!H", val)[0]
        off += n
    if msg["type"] is None and end > 12:
        raise ValueError("AVPs but no Message Type AVP")
    return msg


def result_code(msg):
    v = msg["avps"].get(AVP_RESULT, b"")
    res = struct.unpack("!H", v[:2])[0] if len(v) >= 2 else None
    err = struct.unpack("!H", v[2:4])[0] if len(v) >= 4 else None
    return res, err


def u16(msg, attr):
    v = msg["avps"].get(attr)
    return struct.unpack("!H", v)[0] if v is not None and len(v) == 2 else None


class LAC:
    """One LAC: an inner UDP port, an SA pair, its own sequence numbers."""

    def __init__(self, client, spi_out, key_out, spi_in, key_in, sport, nat_port=0):
        self.client, self.box, self.sport, self.nat_port = client["addr"], CFG["box"], sport, nat_port
        self.mac, self.box_mac = client["mac"], CFG["box_mac"]
        kw = {}
        if nat_port:
            kw["nat_t_header"] = UDP(sport=4500, dport=4500)
        self.out = SecurityAssociation(ESP, spi=spi_out, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(key_out), **kw)
        self.inb = SecurityAssociation(ESP, spi=spi_in, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(key_in), **kw)
        self.ns, self.nr = 0, 0
        self.tid, self.server_tid = 0, 0

    def frame(self, l2):
        pkt = IP(src=self.client, dst=self.box) / UDP(sport=self.sport, dport=1701) / Raw(l2)
        enc = self.out.encrypt(IP(bytes(pkt)))
        raw = bytearray(bytes(enc))
        if self.nat_port:
            ihl = (raw[0] & 15) * 4
            # scapy 2.5.0 leaves the NAT-T UDP length at 8; set it to the
            # datagram's, then play the NAT: the source port it maps to.
            struct.pack_into("!HH", raw, ihl + 4, len(raw) - ihl, 0)
            struct.pack_into("!H", raw, ihl, self.nat_port)
        return bytes(Ether(dst=self.box_mac, src=self.mac, type=0x0800)) + bytes(raw)

    def send(self, avps, session=0, tunnel=None, ns=None, zlb=False):
        t = self.server_tid if tunnel is None else tunnel
        l2 = control(t, session, self.ns if ns is None else ns, self.nr, avps)
        if not zlb and ns is None:
            self.ns = (self.ns + 1) & 0xFFFF
        return self.exchange({"op": "send", "frame": self.frame(l2).hex()})

    def exchange(self, req):
        got = []
        for f in rpc(req)["frames"]:
            m = self.receive(bytes.fromhex(f))
            if m is not None:
                got.append(m)
        return got

    def advance(self, ms):
        return self.exchange({"op": "advance", "ms": ms})

    def receive(self, frame):
        """Decrypt a frame for us with scapy and parse it; None if it is
        for another peer. Checks the outer and inner addressing."""
        eth = Ether(frame)
        if eth.dst != self.mac or IP not in eth or eth[IP].dst != self.client:
            return None
        ip = eth[IP]
        if self.nat_port:
            u = ip[UDP]
            if (u.sport, u.dport) != (4500, self.nat_port) or u.chksum != 0:
                raise ValueError("NAT-T header %d->%d csum %#x, want 4500->%d, 0 (RFC 3948 2.1)" % (u.sport, u.dport, u.chksum, self.nat_port))
        elif ip.proto != 50:
            raise ValueError("reply is not ESP: protocol %d" % ip.proto)
        dec = self.inb.decrypt(IP(bytes(ip)).copy())
        if UDP not in dec or dec[UDP].sport != 1701 or dec.src != self.box:
            raise ValueError("inner %s" % dec.summary())
        if dec[UDP].dport != self.sport:
            return None  # another scenario's peer (same address, other port)
        m = parse(bytes(dec[UDP].payload))
        if m["tunnel"] != self.tid:
            raise ValueError("reply to tunnel %d, want %d" % (m["tunnel"], self.tid))
        if m["type"] is not None and m["ns"] == self.nr:
            self.nr = (self.nr + 1) & 0xFFFF
        return m

    def sccrq(self, tid, extra=(), version=b"\x01\x00", challenge=None):
        self.tid = tid
        avps = [avp(AVP_MSG, struct.pack("!H", SCCRQ)), avp(AVP_VERSION, version),
                avp(AVP_HOST, b"scapy-lac"), avp(AVP_FRAMING, struct.pack("!I", 3)),
                avp(AVP_TUNNEL_ID, struct.pack("!H", tid)), avp(AVP_RWS, struct.pack("!H", 4))]
        if challenge is not None:
            avps.append(avp(AVP_CHALLENGE, challenge))
        return self.send(avps + list(extra), tunnel=0)


def types(msgs):
    return [m["type"] for m in msgs]


def chap(msg_type, challenge):
    """Section 5.1.1: MD5 over the Message Type of the response (one
    octet), the secret and the challenge."""
    return hashlib.md5(bytes([msg_type]) + SECRET + challenge).digest()


def establish(lac, tid, name):
    """SCCRQ (with our challenge) / SCCRP / SCCCN. Returns True when the
    tunnel is up, reporting the checks under name."""
    mine = b"scapy-challenge-" + bytes([tid & 0xFF])
    got = lac.sccrq(tid, challenge=mine)
    if types(got) != [SCCRP]:
        report(name, False, "SCCRQ answered with %s, want [2 SCCRP]" % types(got))
        return False
    rp = got[0]
    lac.server_tid = u16(rp, AVP_TUNNEL_ID)
    if rp["avps"].get(AVP_CHAL_RESP) != chap(SCCRP, mine):
        report(name, False, "SCCRP Challenge Response is not MD5(2, secret, challenge)")
        return False
    theirs = rp["avps"].get(AVP_CHALLENGE)
    if not theirs or rp["tunnel"] != tid or not lac.server_tid:
        report(name, False, "SCCRP lacks a challenge or an assigned tunnel id: %r" % rp)
        return False
    got = lac.send([avp(AVP_MSG, struct.pack("!H", SCCCN)), avp(AVP_CHAL_RESP, chap(SCCCN, theirs))])
    got += lac.advance(200)  # the ZLB acknowledging the SCCCN (section 5.8)
    if types(got) != [None] or got[0]["nr"] != 2:
        report(name, False, "SCCCN answered with %s, want one ZLB with Nr 2" % types(got))
        return False
    return True


def icrq(lac, sid, extra=(), hidden=False):
    avps = [avp(AVP_MSG, struct.pack("!H", ICRQ))]
    if hidden:
        # Section 4.3: a Random Vector AVP precedes the hidden ones.
        rv = bytes(range(16, 32))
        avps += [avp(AVP_RANDOM, rv),
                 avp(AVP_SESSION_ID, hide(AVP_SESSION_ID, struct.pack("!H", sid), rv), hidden=True),
                 avp(AVP_SERIAL, hide(AVP_SERIAL, struct.pack("!I", 4242), rv), hidden=True)]
    else:
        avps += [avp(AVP_SESSION_ID, struct.pack("!H", sid)), avp(AVP_SERIAL, struct.pack("!I", sid))]
    return lac.send(avps + list(extra))


def scenario_hidden(lac):
    name = "hidden-avps"
    if not establish(lac, 301, name):
        return
    got = icrq(lac, 0x5151, hidden=True)
    ok = types(got) == [ICRP] and got[0]["session"] == 0x5151 and u16(got[0], AVP_SESSION_ID)
    if not ok:
        report(name, False, "hidden ICRQ answered with %s" % got)
        return
    server_sid = u16(got[0], AVP_SESSION_ID)
    got = lac.send([avp(AVP_MSG, struct.pack("!H", ICCN)), avp(AVP_TX_SPEED, struct.pack("!I", 1000000)),
                    avp(AVP_FRAMING_TYPE, struct.pack("!I", 2))], session=server_sid)
    got += lac.advance(200)
    report(name, types(got) == [None], "ICRP to the hidden session id 0x5151; server session %d; ICCN acked: %s" % (server_sid, types(got)))


def scenario_unknown_mandatory_sccrq(lac):
    # Section 4.1: an unrecognized AVP with M set in a tunnel message
    # terminates the tunnel; section 4.4.2: StopCCN Result Code 2 (general
    # error) with Error Code 8 (unknown AVP with the M bit set).
    got = lac.sccrq(302, extra=[avp(200, b"\x00\x01", mandatory=True)])
    res = [result_code(m) for m in got]
    ok = types(got) == [STOPCCN] and res == [(2, 8)] and got[0]["tunnel"] == 302 and AVP_TUNNEL_ID in got[0]["avps"]
    report("unknown-mandatory-avp-sccrq", ok, "got %s results %s" % (types(got), res))


def scenario_unknown_optional(lac):
    # Section 4.1: an unrecognized AVP without M is ignored.
    got = lac.sccrq(303, extra=[avp(201, b"ignored", mandatory=False), avp(7, b"x", mandatory=False, vendor=9)])
    report("unknown-optional-avp-ignored", types(got) == [SCCRP], "got %s" % types(got))


def scenario_unknown_mandatory_icrq(lac):
    name = "unknown-mandatory-avp-icrq"
    if not establish(lac, 304, name):
        return
    # Section 4.1: in a message about a session, only the session ends:
    # CDN, Result Code 2, Error Code 8, to the session the ICRQ assigned.
    got = icrq(lac, 0x0404, extra=[avp(202, b"\x00", mandatory=True)])
    cdns = [m for m in got if m["type"] == CDN]
    res = [result_code(m) for m in cdns]
    ok = len(cdns) == 1 and res == [(2, 8)] and cdns[0]["session"] == 0x0404 and STOPCCN not in types(got)
    # The tunnel stays: a HELLO is still acknowledged.
    got = lac.send([avp(AVP_MSG, struct.pack("!H", HELLO))]) + lac.advance(200)
    ok = ok and types(got) == [None]
    report(name, ok, "CDN results %s; after HELLO %s" % (res, types(got)))


def scenario_out_of_window(lac):
    name = "out-of-window-ns"
    if not establish(lac, 305, name):
        return
    expected = lac.ns  # the next Ns the LNS expects from us
    # Section 5.8: a message whose Ns is far past the expected one is not
    # delivered; whatever the LNS sends must not acknowledge it.
    far = (expected + 100) & 0xFFFF
    got = lac.send([avp(AVP_MSG, struct.pack("!H", HELLO))], ns=far) + lac.advance(200)
    bad = [m for m in got if m["nr"] != expected]
    # The in-sequence HELLO is delivered and acknowledged: Nr moves by one.
    got2 = lac.send([avp(AVP_MSG, struct.pack("!H", HELLO))]) + lac.advance(200)
    ok = not bad and types(got2) == [None] and got2[0]["nr"] == (expected + 1) & 0xFFFF
    report(name, ok, "after Ns %d: %s (Nr %s); after Ns %d: %s (Nr %s)" % (
        far, types(got), [m["nr"] for m in got], expected, types(got2), [m["nr"] for m in got2]))


def scenario_duplicate_sccrq(lac):
    # Section 5.8: a retransmitted (duplicate) message is acknowledged, not
    # processed again: no second tunnel. The LNS may answer with a ZLB or
    # by sending its SCCRP again, with the same Assigned Tunnel ID.
    got = lac.sccrq(306)
    if types(got) != [SCCRP]:
        report("duplicate-sccrq", False, "first SCCRQ answered with %s" % types(got))
        return
    first = u16(got[0], AVP_TUNNEL_ID)
    lac.ns = 0  # the same message again, Ns 0
    again = lac.sccrq(306) + lac.advance(200)
    ids = [u16(m, AVP_TUNNEL_ID) for m in again if m["type"] == SCCRP]
    ok = again and all(m["type"] in (None, SCCRP) for m in again) and all(i == first for i in ids) and \
        all(m["nr"] == 1 for m in again)
    report("duplicate-sccrq", ok, "first tunnel %d; the duplicate got %s, tunnel ids %s" % (first, types(again), ids))


def scenario_bad_version(lac):
    # Section 4.4.2: StopCCN Result Code 5 (unsupported protocol version);
    # its Error Code carries the highest version supported (1.0).
    got = lac.sccrq(307, version=b"\x02\x00")
    res = [result_code(m) for m in got]
    report("unsupported-version", types(got) == [STOPCCN] and res == [(5, 0x0100)], "got %s results %s" % (types(got), res))


def scenario_bad_challenge_response(lac):
    # Section 5.1.1 and 4.4.2: a wrong Challenge Response in SCCCN is
    # answered with StopCCN Result Code 4 (not authorized).
    got = lac.sccrq(308, challenge=b"0123456789abcdef")
    if types(got) != [SCCRP]:
        report("bad-challenge-response", False, "SCCRQ answered with %s" % types(got))
        return
    lac.server_tid = u16(got[0], AVP_TUNNEL_ID)
    got = lac.send([avp(AVP_MSG, struct.pack("!H", SCCCN)), avp(AVP_CHAL_RESP, b"\x00" * 16)])
    res = [result_code(m) for m in got if m["type"] == STOPCCN]
    report("bad-challenge-response", res == [(4, None)], "got %s results %s" % (types(got), res))


def scenario_natt(lac):
    name = "nat-t-float"
    if establish(lac, 309, name):
        report(name, True, "replies went to the NAT's port %d" % lac.nat_port)


def main():
    c1, c2 = CFG["clients"]
    scenarios = [
        (scenario_hidden, 40001), (scenario_unknown_mandatory_sccrq, 40002), (scenario_unknown_optional, 40003),
        (scenario_unknown_mandatory_icrq, 40004), (scenario_out_of_window, 40005), (scenario_duplicate_sccrq, 40006),
        (scenario_bad_version, 40007), (scenario_bad_challenge_response, 40008),
    ]
    # One SA pair for the plain-ESP scenarios: their packets share its
    # sequence numbers; each scenario is its own peer (inner UDP port).
    out = SecurityAssociation(ESP, spi=c1["spi_out"], crypt_algo="AES-GCM", crypt_key=bytes.fromhex(c1["key_out"]))
    inb = SecurityAssociation(ESP, spi=c1["spi_in"], crypt_algo="AES-GCM", crypt_key=bytes.fromhex(c1["key_in"]))
    for fn, port in scenarios:
        lac = LAC(c1, c1["spi_out"], c1["key_out"], c1["spi_in"], c1["key_in"], port)
        lac.out, lac.inb = out, inb
        try:
            fn(lac)
        except Exception as e:  # report, never hide
            report(fn.__name__, False, "exception: %r" % e)
    lac = LAC(c2, c2["spi_out"], c2["key_out"], c2["spi_in"], c2["key_in"], 1701, nat_port=c2["nat_port"])
    try:
        scenario_natt(lac)
    except Exception as e:
        report("scenario_natt", False, "exception: %r" % e)
    sys.stdout.write(json.dumps({"op": "done"}) + "\n")
    sys.stdout.flush()


main()
