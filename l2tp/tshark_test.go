package l2tp

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// tsharkFields dissects payloads (UDP/1701) with tshark and returns, per
// packet, the requested fields (all occurrences joined by ',').
func tsharkFields(t *testing.T, payloads [][]byte, fields ...string) []map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "l2tp.pcap")
	writePcap(t, path, netip.MustParseAddrPort("192.0.2.1:1701"), netip.MustParseAddrPort("192.0.2.2:1701"), payloads)
	fields = append(fields, "_ws.malformed", "_ws.expert.message")
	rows := l2tptest.TsharkFields(t, path, fields)
	for i, row := range rows {
		if row["_ws.malformed"] != "" || row["_ws.expert.message"] != "" {
			t.Errorf("tshark flags packet %d: %q %q", i+1, row["_ws.malformed"], row["_ws.expert.message"])
		}
	}
	if len(rows) != len(payloads) {
		t.Fatalf("tshark decoded %d packets, want %d", len(rows), len(payloads))
	}
	return rows
}

// TestTsharkDecodesEveryAVP encodes every attribute and has Wireshark's
// L2TP dissector read them back. The expectations are the values
// fullMessage sets, written out as Wireshark prints them, and the M bits
// RFC 2661 section 4.4 prescribes, in our emission order.
func TestTsharkDecodesEveryAVP(t *testing.T) {
	b, err := fullMessage().Append(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"l2tp.tunnel": "4369", "l2tp.session": "8738", "l2tp.Ns": "3", "l2tp.Nr": "4", "l2tp.length": "498",
		"l2tp.avp.message_type": "12",
		"l2tp.result_code":      "2", "l2tp.avp.error_code": "6", "l2tp.avp.error_message": "vendor says no",
		"l2tp.avp.protocol_version": "1", "l2tp.avp.protocol_revision": "0",
		"l2tp.avp.async_framing_supported": "1", "l2tp.avp.sync_framing_supported": "1",
		"l2tp.avp.analog_access_supported": "0", "l2tp.avp.digital_access_supported": "1",
		"l2tp.tie_breaker": "0x0102030405060708", "l2tp.avp.firmware_revision": "258",
		"l2tp.avp.host_name": "lac.example", "l2tp.avp.vendor_name": "sluice tests",
		"l2tp.avp.assigned_tunnel_id": "43981", "l2tp.avp.receive_window_size": "9",
		"l2tp.avp.chap_challenge": "6368616c6c656e676521",
		"l2tp.avp.cause_code":     "16", "l2tp.avp.cause_msg": "69", "l2tp.avp.advisory_msg": "normal",
		"l2tp.avp.chap_challenge_response": "deadbeef000000000000000000000000",
		"l2tp.avp.assigned_session_id":     "30583", "l2tp.avp.call_serial_number": "51966",
		"l2tp.avp.minimum_bps": "9600", "l2tp.avp.maximum_bps": "100000000",
		"l2tp.avp.analog_bearer_type": "1", "l2tp.avp.digital_bearer_type": "0",
		"l2tp.avp.async_framing_type": "0", "l2tp.avp.sync_framing_type": "1",
		"l2tp.avp.called_number": "1701", "l2tp.avp.calling_number": "+15551234", "l2tp.avp.sub_address": "sub",
		"l2tp.avp.connect_speed": "10000000", "l2tp.avp.physical_channel": "42",
		"l2tp.avp.initial_received_lcp_confreq": "010405dc", "l2tp.avp.last_sent_lcp_confreq": "050601020304",
		"l2tp.avp.last_received_lcp_confreq": "0304c023",
		"l2tp.avp.proxy_authen_type":         "2", "l2tp.avp.proxy_authen_name": "user",
		"l2tp.avp.proxy_authen_challenge": "706368616c", "l2tp.avp.proxy_authen_id": "23",
		"l2tp.avp.proxy_authen_response": "7072657370",
		"l2tp.avp.crc_errors":            "1", "l2tp.avp.framing_errors": "2", "l2tp.avp.hardware_overruns": "3",
		"l2tp.avp.buffer_overruns": "4", "l2tp.avp.time_out_errors": "5", "l2tp.avp.alignment_errors": "6",
		"l2tp.avp.send_accm": "4294967295", "l2tp.avp.receive_accm": "655360",
		"l2tp.avp.random_vector":    "30313233343536373839616263646566",
		"l2tp.avp.private_group_id": "67726f7570", "l2tp.avp.rx_connect_speed": "20000000",
		"l2tp.avp.vendor_id": "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,9",
		// Message Type, Random Vector, then 1..39 without 20, then the vendor AVP.
		"l2tp.avp.type": "0,36,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,37,38,39",
		// M=0: Tie Breaker, Firmware, Vendor Name, Physical Channel, the LCP and
		// Proxy Authen AVPs, Private Group ID, Rx Connect Speed, the vendor AVP.
		"l2tp.avp.mandatory": "1,1,1,1,1,1,0,0,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,1,1,0,0,1,0",
	}
	fields := make([]string, 0, len(want))
	for f := range want {
		fields = append(fields, f)
	}
	row := tsharkFields(t, [][]byte{b}, fields...)[0]
	for f, w := range want {
		if row[f] != w {
			t.Errorf("%s: tshark says %q, want %q", f, row[f], w)
		}
	}
}
