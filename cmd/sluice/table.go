package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// table prints rows under headers in aligned columns, two spaces apart;
// columns whose header starts with '>' are right-aligned (numbers).
func table(w io.Writer, headers []string, rows [][]string) {
	width := make([]int, len(headers))
	right := make([]bool, len(headers))
	hs := make([]string, len(headers))
	for i, h := range headers {
		right[i] = strings.HasPrefix(h, ">")
		hs[i] = strings.TrimPrefix(h, ">")
		width[i] = utf8.RuneCountInString(hs[i])
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(cells)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(hs)
	dashes := make([]string, len(hs))
	for i := range hs {
		dashes[i] = strings.Repeat("-", width[i])
	}
	line(dashes)
	for _, r := range rows {
		line(r)
	}
}

func u(n uint64) string { return fmt.Sprintf("%d", n) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
