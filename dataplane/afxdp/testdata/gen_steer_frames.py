#!/usr/bin/python3
"""Builds the labelled frames of TestSteerEquivalence with scapy.

The frames come from an independent packet library and the labels are
written by hand from the steering rule (dataplane/steer.go's comment, the
issue): the dataplane owns IPv4/IPv6 ESP, UDP to port 4500 and UDP to port
1701, behind at most one 802.1Q/802.1ad tag, looking only at the IPv6 next
header field and skipping non-first IPv4 fragments of UDP; everything else
goes to the kernel. Nothing is validated beyond what the decision reads.

Run: /usr/bin/python3 gen_steer_frames.py > steer_frames.txt
Each output line: "steer|pass name hex".
"""
from scapy.all import (ARP, Dot1AD, Dot1Q, Ether, ICMP, IP, IPv6, Raw, TCP,
                       UDP, IPOption_NOP, IPOption_RR, ICMPv6EchoRequest,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrFragment,
                       IPv6ExtHdrDestOpt, raw)
from scapy.layers.ipsec import ESP
from scapy.layers.l2tp import L2TP
from scapy.layers.isakmp import ISAKMP
from scapy.layers.ppp import PPPoE, PPP

ETH = dict(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
V4 = dict(src="198.51.100.7", dst="203.0.113.1")
V6 = dict(src="2001:db8::7", dst="2001:db8::1")
PAY = Raw(b"sluice" * 4)

cases = []


def add(label, name, pkt):
    assert label in ("steer", "pass")
    b = raw(pkt) if not isinstance(pkt, (bytes, bytearray)) else bytes(pkt)
    cases.append((label, name, b))


def l2(variants):
    """Yields (prefix name, Ether stack builder) for untagged and tagged."""
    for name, mk in variants:
        yield name, mk


tags = [
    ("", lambda t: Ether(**ETH, type=t)),
    ("dot1q_", lambda t: Ether(**ETH) / Dot1Q(vlan=10, type=t)),
    ("dot1ad_", lambda t: Ether(**ETH) / Dot1AD(vlan=20, type=t)),
]

for tag, eth in tags:
    v4 = lambda: eth(0x0800)
    v6 = lambda: eth(0x86DD)
    # ESP (RFC 4303), IP protocol 50.
    add("steer", tag + "ipv4_esp", v4() / IP(**V4) / ESP(spi=0xC001, seq=1, data=b"x" * 32))
    add("steer", tag + "ipv6_esp", v6() / IPv6(**V6) / ESP(spi=0xC001, seq=1, data=b"x" * 32))
    # NAT-T (RFC 3948): ESP in UDP/4500, keepalive, IKE with non-ESP marker.
    add("steer", tag + "ipv4_udp4500_esp", v4() / IP(**V4) / UDP(sport=4500, dport=4500) / ESP(spi=0xC001, seq=7, data=b"y" * 40))
    add("steer", tag + "ipv4_udp4500_keepalive", v4() / IP(**V4) / UDP(sport=4500, dport=4500) / Raw(b"\xff"))
    add("steer", tag + "ipv4_udp4500_ike", v4() / IP(**V4) / UDP(sport=4500, dport=4500) / Raw(b"\x00\x00\x00\x00") / ISAKMP())
    add("steer", tag + "ipv6_udp4500", v6() / IPv6(**V6) / UDP(sport=4500, dport=4500) / PAY)
    # L2TP (RFC 2661) on UDP/1701, also from a random source port.
    add("steer", tag + "ipv4_udp1701_l2tp", v4() / IP(**V4) / UDP(sport=1701, dport=1701) / L2TP(tunnel_id=1, session_id=1) / PAY)
    add("steer", tag + "ipv4_udp1701_from_high_port", v4() / IP(**V4) / UDP(sport=40000, dport=1701) / PAY)
    add("steer", tag + "ipv6_udp1701_l2tp", v6() / IPv6(**V6) / UDP(sport=1701, dport=1701) / L2TP() / PAY)
    # The kernel's: IKE on 500, other UDP, replies FROM 4500/1701, TCP, ICMP, ARP.
    add("pass", tag + "ipv4_udp500_ike", v4() / IP(**V4) / UDP(sport=500, dport=500) / ISAKMP())
    add("pass", tag + "ipv6_udp500_ike", v6() / IPv6(**V6) / UDP(sport=500, dport=500) / ISAKMP())
    add("pass", tag + "ipv4_udp_sport4500_dport53", v4() / IP(**V4) / UDP(sport=4500, dport=53) / PAY)
    add("pass", tag + "ipv4_udp_sport1701_dport1702", v4() / IP(**V4) / UDP(sport=1701, dport=1702) / PAY)
    add("pass", tag + "ipv4_udp_dport4501", v4() / IP(**V4) / UDP(sport=1, dport=4501) / PAY)
    add("pass", tag + "ipv4_tcp1701", v4() / IP(**V4) / TCP(sport=1234, dport=1701) / PAY)
    add("pass", tag + "ipv4_tcp4500", v4() / IP(**V4) / TCP(sport=1234, dport=4500))
    add("pass", tag + "ipv4_tcp22_ssh", v4() / IP(**V4) / TCP(sport=50000, dport=22, flags="S"))
    add("pass", tag + "ipv6_tcp1701", v6() / IPv6(**V6) / TCP(sport=1234, dport=1701))
    add("pass", tag + "ipv4_icmp_echo", v4() / IP(**V4) / ICMP() / PAY)
    add("pass", tag + "ipv6_icmpv6_echo", v6() / IPv6(**V6) / ICMPv6EchoRequest() / PAY)
    add("pass", tag + "arp_request", eth(0x0806) / ARP(pdst="203.0.113.1", psrc="198.51.100.7"))
    # IPv4 options: the UDP header moves with IHL.
    add("steer", tag + "ipv4_ihl6_udp4500", v4() / IP(**V4, options=[IPOption_NOP()] * 4) / UDP(dport=4500) / PAY)
    add("steer", tag + "ipv4_ihl15_udp1701", v4() / IP(**V4, options=[IPOption_RR(routers=["0.0.0.0"] * 9)]) / UDP(dport=1701) / PAY)
    add("pass", tag + "ipv4_ihl6_udp500", v4() / IP(**V4, options=[IPOption_NOP()] * 4) / UDP(dport=500) / PAY)
    # Fragments: the first one carries the UDP header, later ones do not.
    add("steer", tag + "ipv4_first_fragment_udp4500", v4() / IP(**V4, flags="MF", frag=0) / UDP(dport=4500) / PAY)
    add("steer", tag + "ipv4_df_udp1701", v4() / IP(**V4, flags="DF") / UDP(dport=1701) / PAY)
    add("pass", tag + "ipv4_later_fragment_udp", v4() / IP(**V4, proto=17, flags="MF", frag=3) / Raw(b"\x11\x94\x11\x94\x00\x10\x00\x00" + b"z" * 16))
    add("pass", tag + "ipv4_last_fragment_udp", v4() / IP(**V4, proto=17, frag=0x1FFF) / Raw(b"\x06\xa5\x06\xa5" + b"z" * 20))
    add("steer", tag + "ipv4_later_fragment_esp", v4() / IP(**V4, proto=50, flags="MF", frag=185) / Raw(b"\x00\x00\xc0\x01" + b"z" * 20))
    # IPv6 extension headers are not walked.
    add("pass", tag + "ipv6_hbh_udp4500", v6() / IPv6(**V6) / IPv6ExtHdrHopByHop() / UDP(dport=4500) / PAY)
    add("pass", tag + "ipv6_frag_udp1701", v6() / IPv6(**V6) / IPv6ExtHdrFragment(offset=0, m=1) / UDP(dport=1701) / PAY)
    add("pass", tag + "ipv6_destopt_esp", v6() / IPv6(**V6) / IPv6ExtHdrDestOpt() / ESP(spi=5, seq=1, data=b"q" * 16))
    # Malformed but steered: nothing beyond the decision is validated.
    add("steer", tag + "ipv4_bad_checksum_udp4500", v4() / IP(**V4, chksum=0xDEAD) / UDP(dport=4500, chksum=0xBEEF) / PAY)
    add("steer", tag + "ipv4_version6_udp4500", v4() / IP(**V4, version=6) / UDP(dport=4500) / PAY)
    add("steer", tag + "ipv4_udp_len_lies_1701", v4() / IP(**V4, len=2000) / UDP(dport=1701, len=3) / PAY)
    add("steer", tag + "ipv4_esp_header_only", v4() / IP(**V4, proto=50))
    add("steer", tag + "ipv6_esp_header_only", v6() / IPv6(**V6, nh=50, plen=0))
    # Cut or impossible headers: the decision cannot be made, the kernel gets them.
    add("pass", tag + "ipv4_ihl4_udp4500", v4() / IP(**V4, ihl=4) / UDP(dport=4500) / PAY)
    add("pass", tag + "ipv4_ihl0_udp4500", v4() / IP(**V4, ihl=0) / UDP(dport=4500) / PAY)
    add("pass", tag + "ipv4_udp4500_cut_udp_header", raw(v4() / IP(**V4) / UDP(dport=4500))[:-4])
    add("pass", tag + "ipv4_ihl15_udp_cut", raw(v4() / IP(**V4, options=[IPOption_RR(routers=["0.0.0.0"] * 9)]) / UDP(dport=1701))[:-1])
    add("pass", tag + "ipv4_cut_ip_header", raw(v4() / IP(**V4, proto=50))[:-1])
    add("pass", tag + "ipv6_cut_ip_header_esp", raw(v6() / IPv6(**V6, nh=50))[:-1])
    add("pass", tag + "ipv6_udp4500_cut_udp_header", raw(v6() / IPv6(**V6) / UDP(dport=4500))[:-1])
    add("pass", tag + "pppoe_session", eth(0x8864) / PPPoE(sessionid=1) / PPP(proto=0x0021) / IP(**V4) / UDP(dport=1701))
    add("pass", tag + "mpls_unicast", eth(0x8847) / Raw(b"\x00\x01\x01\x40") / IP(**V4) / UDP(dport=4500))

# Tag edge cases.
add("pass", "qinq_two_tags_udp4500", Ether(**ETH) / Dot1AD(vlan=1) / Dot1Q(vlan=2) / IP(**V4) / UDP(dport=4500) / PAY)
add("pass", "dot1q_dot1q_esp", Ether(**ETH) / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IP(**V4) / ESP(spi=1, seq=1))
add("pass", "dot1q_cut_tag", raw(Ether(**ETH) / Dot1Q(vlan=10, type=0x0800))[:16])
add("pass", "ethernet_header_only_ipv4", raw(Ether(**ETH, type=0x0800)))
add("pass", "ethernet_header_only_dot1q", raw(Ether(**ETH, type=0x8100)))
add("pass", "ieee8023_llc_length", Ether(**ETH, type=46) / Raw(b"\xaa\xaa\x03" + b"\x00" * 43))
add("steer", "ipv4_udp4500_1400B", Ether(**ETH) / IP(**V4) / UDP(sport=4500, dport=4500) / Raw(b"p" * (1400 - 42)))
add("steer", "ipv6_esp_1400B", Ether(**ETH) / IPv6(**V6) / ESP(spi=9, seq=9, data=b"p" * (1400 - 62)))

for label, name, b in cases:
    print(label, name, b.hex())
