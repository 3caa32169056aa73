package djangoauth

import (
	"math/big"
	"strings"
	"unicode"
)

// pyIntString parses s as CPython's int(s) does for a str: surrounding
// Unicode whitespace is stripped, an optional sign, then decimal digits
// (any Unicode Nd digit) with single underscores allowed between digits.
// ok is false where Python raises ValueError.
func pyIntString(s string) (*big.Int, bool) {
	s = strings.TrimFunc(s, isPyWhitespace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return nil, false
	}
	var digits []byte
	prevUnderscore := true // a leading underscore is invalid
	for _, r := range s {
		if r == '_' {
			if prevUnderscore {
				return nil, false
			}
			prevUnderscore = true
			continue
		}
		d, ok := digitValue(r)
		if !ok {
			return nil, false
		}
		digits = append(digits, '0'+byte(d)) //nolint:gosec // 0 <= d <= 9
		prevUnderscore = false
	}
	if prevUnderscore {
		return nil, false // trailing underscore
	}
	n, ok := new(big.Int).SetString(string(digits), 10)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

// isPyWhitespace is str.isspace for the characters Python's int() strips.
func isPyWhitespace(r rune) bool {
	switch r {
	case 0x1c, 0x1d, 0x1e, 0x1f:
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r)
}

// digitValue returns the decimal value of a Unicode Nd character. Nd
// characters come in contiguous runs of ten starting at a zero.
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	start := r
	for start > 0 && unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10, true
}
