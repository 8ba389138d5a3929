package l2tp

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
)

// writePcap writes L2TP payloads as IPv4/UDP packets (linktype RAW) so an
// independent dissector can read them. UDP checksums are zero (allowed in
// IPv4); the IPv4 header checksum is computed.
func writePcap(t *testing.T, path string, src, dst netip.AddrPort, payloads [][]byte) {
	t.Helper()
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0xa1b2c3d4)
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = binary.LittleEndian.AppendUint16(out, 4)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 65535)
	out = binary.LittleEndian.AppendUint32(out, 101) // LINKTYPE_RAW
	for i, p := range payloads {
		pkt := make([]byte, 28, 28+len(p))
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[2:], uint16(28+len(p)))
		pkt[8] = 64
		pkt[9] = 17
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(pkt[12:], s4[:])
		copy(pkt[16:], d4[:])
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(pkt[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(pkt[10:], ^uint16(sum))
		binary.BigEndian.PutUint16(pkt[20:], src.Port())
		binary.BigEndian.PutUint16(pkt[22:], dst.Port())
		binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(p)))
		pkt = append(pkt, p...)
		out = binary.LittleEndian.AppendUint32(out, uint32(i))
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(pkt)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(pkt)))
		out = append(out, pkt...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
