package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicenet/sluice/ipsec"
)

// Normalize checks a value written for the node (a leaf's value, or a tag's
// instance name) and returns its canonical spelling, which is what the tree
// stores. Errors for Secret nodes never quote the value.
func (s *Schema) Normalize(raw string) (string, error) {
	if s.Type != TypeString && s.Type != TypeHostPort {
		raw = strings.TrimSpace(raw)
	}
	if c, ok := s.Synonyms[strings.ToLower(raw)]; ok {
		raw = c
	}
	if s.Type != TypeEnum {
		for _, kw := range s.Values {
			if strings.EqualFold(raw, kw) {
				return kw, nil
			}
		}
	}
	v, err := s.normalizeType(raw)
	if err != nil {
		return "", err
	}
	if s.Check != nil {
		return s.Check(v)
	}
	return v, nil
}

func (s *Schema) normalizeType(raw string) (string, error) {
	if raw == "" && s.Type != TypeString && s.Type != TypeHostPort {
		return "", errors.New("needs a value")
	}
	switch s.Type {
	case TypeString:
		return raw, checkText(raw, 255)
	case TypeName:
		return raw, checkName(raw, 64, "_.-")
	case TypeIfName:
		if raw == "." || raw == ".." {
			return "", fmt.Errorf("%q is not an interface name", raw)
		}
		return raw, checkName(raw, 15, "_.-")
	case TypeBool:
		switch strings.ToLower(raw) {
		case "true", "yes", "on":
			return "true", nil
		case "false", "no", "off":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not true or false", printable(raw))
	case TypeUint:
		n, err := parseDecimal(raw)
		if err != nil {
			return "", err
		}
		if n < s.Min || n > s.max() {
			return "", fmt.Errorf("%d is out of range %d-%d", n, s.Min, s.max())
		}
		return strconv.FormatUint(n, 10), nil
	case TypeHex32:
		n, err := parseHex32(raw)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("0x%08x", n), nil
	case TypeDecimal:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || strings.ContainsAny(raw, "xXpP_") {
			return "", fmt.Errorf("%q is not a non-negative decimal number", printable(raw))
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case TypeKey:
		// The 0x prefix is required: a key that lost it has usually been
		// through a YAML 1.1 tool that read 0x... as an integer and wrote
		// it back in decimal, and decimal digits are valid hex digits, so
		// reading them as hex would silently install a different key.
		if !strings.HasPrefix(raw, "0x") && !strings.HasPrefix(raw, "0X") {
			return "", errors.New("key must be written as 0x-prefixed hex (quote it in YAML written by other tools: they may turn 0x... into a decimal number)")
		}
		k, err := ipsec.ParseKey(raw)
		if err != nil {
			// ParseKey's messages never quote the key.
			return "", err
		}
		if len(k) > 512 {
			return "", fmt.Errorf("key is %d bytes, longer than any suite needs", len(k))
		}
		return "0x" + fmt.Sprintf("%x", []byte(k)), nil
	case TypeIP:
		a, err := netip.ParseAddr(raw)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%q is not an IP address", printable(raw))
		}
		return a.String(), nil
	case TypeAddrMatch:
		_, _, err := parseAddrMatch(raw)
		if err != nil {
			return "", err
		}
		neg := strings.HasPrefix(raw, "!")
		body := strings.TrimSpace(strings.TrimPrefix(raw, "!"))
		if p, err := netip.ParsePrefix(body); err == nil {
			body = p.String()
		} else if a, err := netip.ParseAddr(body); err == nil {
			body = a.String()
		}
		if neg {
			body = "!" + body
		}
		return body, nil
	case TypePorts:
		rs, err := parsePorts(raw)
		if err != nil {
			return "", err
		}
		return formatRanges(rs), nil
	case TypeProtocol:
		if _, _, err := parseProtocol(raw); err != nil {
			return "", err
		}
		if n, err := parseDecimal(raw); err == nil {
			return strconv.FormatUint(n, 10), nil
		}
		return strings.ToLower(raw), nil
	case TypeDuration:
		v := strings.ToLower(raw)
		if _, err := parseDuration(v); err != nil {
			return "", err
		}
		return v, nil
	case TypeBytes:
		n, err := parseBytes(raw)
		if err != nil {
			return "", err
		}
		_ = n
		i := len(raw)
		for i > 0 && (raw[i-1] < '0' || raw[i-1] > '9') {
			i--
		}
		num, _ := parseDecimal(strings.TrimSpace(raw[:i]))
		return strconv.FormatUint(num, 10) + strings.ToUpper(strings.TrimSpace(raw[i:])), nil
	case TypeEnum:
		for _, v := range s.Values {
			if strings.EqualFold(raw, v) {
				return v, nil
			}
		}
		return "", fmt.Errorf("unknown value %q (want %s)", printable(raw), strings.Join(s.Values, ", "))
	case TypeIndexList:
		rs, err := parseIndexList(raw, s.Min, s.max())
		if err != nil {
			return "", err
		}
		return formatRanges(rs), nil
	case TypeHostPort:
		if raw == "" {
			return "", nil
		}
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			return "", fmt.Errorf("%q is not host:port", printable(raw))
		}
		if n, err := parseDecimal(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not a number 1-65535", printable(port))
		}
		if err := checkText(host, 253); err != nil || strings.ContainsAny(host, " \t") {
			return "", fmt.Errorf("%q is not host:port", printable(raw))
		}
		return raw, nil
	case TypePath:
		if err := checkText(raw, 4096); err != nil {
			return "", err
		}
		if !strings.HasPrefix(raw, "/") {
			return "", fmt.Errorf("%q is not an absolute path", printable(raw))
		}
		return path.Clean(raw), nil
	}
	return "", fmt.Errorf("node takes no value")
}

// checkText allows one line of printable UTF-8.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("control characters are not allowed")
		}
	}
	return nil
}

// checkName allows [A-Za-z0-9] first, then also the bytes in extra.
func checkName(s string, max int, extra string) error {
	if len(s) > max {
		return fmt.Errorf("%q is longer than %d bytes", printable(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte(extra, c) < 0) {
			return fmt.Errorf("%q is not a name (letters, digits and %s; a letter or digit first)", printable(s), extra)
		}
	}
	return nil
}

// parseDecimal parses a plain unsigned decimal number.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 40 {
		return 0, fmt.Errorf("%q is not a number", printable(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a number", printable(s))
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", printable(s))
	}
	return n, nil
}

// parseHex32 reads 0x-hex or decimal into 32 bits.
func parseHex32(s string) (uint32, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		h = strings.TrimLeft(h, "0")
		if h == "" && len(s) > 2 {
			return 0, nil
		}
		if h == "" || len(h) > 8 {
			return 0, fmt.Errorf("%q is not a 32-bit hex number", printable(s))
		}
		n, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a 32-bit hex number", printable(s))
		}
		return uint32(n), nil
	}
	n, err := parseDecimal(s)
	if err != nil || n > math.MaxUint32 {
		return 0, fmt.Errorf("%q is not a 32-bit number (0x-hex or decimal)", printable(s))
	}
	return uint32(n), nil
}

// parseAddrMatch reads "[!]prefix" or "[!]address" (a host prefix).
func parseAddrMatch(s string) (netip.Prefix, bool, error) {
	neg := false
	if rest, ok := strings.CutPrefix(s, "!"); ok {
		neg, s = true, strings.TrimSpace(rest)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false, fmt.Errorf("%q is not a prefix", printable(s))
		}
		if p != p.Masked() {
			return netip.Prefix{}, false, fmt.Errorf("%s has host bits set (did you mean %s?)", p, p.Masked())
		}
		return p, neg, nil
	}
	if strings.Contains(s, "-") {
		return netip.Prefix{}, false, fmt.Errorf("%q: address ranges are not supported; write prefixes", printable(s))
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false, fmt.Errorf("%q is not an address or prefix", printable(s))
	}
	return netip.PrefixFrom(a, a.BitLen()), neg, nil
}

// numRange is an inclusive range of numbers.
type numRange struct{ lo, hi uint64 }

// parseRanges reads "a", "a-b" and comma-separated lists of them.
func parseRanges(s string, min, max uint64, what string) ([]numRange, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 256 {
		return nil, fmt.Errorf("more than 256 %ss", what)
	}
	out := make([]numRange, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := parseDecimal(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%q is not a %s, a-b range or list", printable(s), what)
		}
		b := a
		if isRange {
			if b, err = parseDecimal(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%q is not a %s, a-b range or list", printable(s), what)
			}
		}
		if a < min || b > max || a > b {
			return nil, fmt.Errorf("%s %q is out of range %d-%d", what, printable(p), min, max)
		}
		out = append(out, numRange{a, b})
	}
	return out, nil
}

func parsePorts(s string) ([]numRange, error) { return parseRanges(s, 1, 65535, "port") }

func parseIndexList(s string, min, max uint64) ([]numRange, error) {
	return parseRanges(s, min, max, "number")
}

func formatRanges(rs []numRange) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(r.lo, 10))
		if r.hi != r.lo {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(r.hi, 10))
		}
	}
	return b.String()
}

// protocols maps the protocol names a rule accepts to IANA's Assigned
// Internet Protocol Numbers.
var protocols = []struct {
	name string
	num  uint8
}{
	{"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"gre", 47}, {"esp", 50}, {"ipv6-icmp", 58},
}

func protocolNames() []string {
	out := []string{"all"}
	for _, p := range protocols {
		out = append(out, p.name)
	}
	return out
}

// parseProtocol returns the protocol number, and any=true for "all".
func parseProtocol(s string) (num uint8, any bool, err error) {
	l := strings.ToLower(s)
	if l == "all" {
		return 0, true, nil
	}
	for _, p := range protocols {
		if p.name == l {
			return p.num, false, nil
		}
	}
	n, err := parseDecimal(s)
	if err != nil || n > 255 {
		return 0, false, fmt.Errorf("%q is not a protocol (want %s, or a number 0-255)", printable(s), strings.Join(protocolNames(), ", "))
	}
	return uint8(n), false, nil
}

// parseDuration reads a duration the way swanctl does (a number with an
// optional s, m, h or d suffix; a bare number is seconds), and also Go's
// forms (500ms, 1h30m).
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration (want e.g. 3300s, 55m, 1h, 1d, 500ms, or a number of seconds)", printable(s))
	num := strings.TrimRight(s, "d")
	if n, err := parseDecimal(num); err == nil && len(s)-len(num) <= 1 {
		unit := time.Second
		if len(num) != len(s) {
			unit = 24 * time.Hour
		}
		if n > uint64(math.MaxInt64/int64(unit)) {
			return 0, fmt.Errorf("%q is too long", printable(s))
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", printable(s))
	}
	return d, nil
}

// parseBytes reads a byte count with an optional K, M, G or T suffix in
// powers of 1024, as strongSwan's swanctl reads life_bytes (vici's
// parse_bytes). Unlike swanctl, overflow is an error, not a saturation.
func parseBytes(s string) (uint64, error) {
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	n, err := parseDecimal(strings.TrimSpace(s[:i]))
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte size (want e.g. 1000, 500M, 10G)", printable(s))
	}
	var shift uint
	switch strings.ToUpper(strings.TrimSpace(s[i:])) {
	case "":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("%q is not a byte size (suffixes: K, M, G, T, powers of 1024)", printable(s))
	}
	if n > math.MaxUint64>>shift {
		return 0, fmt.Errorf("%q is too large", printable(s))
	}
	return n << shift, nil
}
