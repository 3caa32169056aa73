package djangoauth

import "strings"

// ParseCookie is django.http.cookie.parse_cookie (Django 4.2 to 6.x): the
// header is split on ";", each chunk on its first "=" (a chunk without "="
// has the name ""), both parts are stripped of Python whitespace and the value
// is unquoted with http.cookies._unquote (CPython 3.11). Chunks whose name and
// value are both empty are skipped; when a name repeats, the last one wins.
//
// The header is treated as latin-1, as ASGI servers decode it: each byte is
// one character, and the returned strings hold the same bytes (an octal
// escape such as \377 yields the single byte 0xff).
func ParseCookie(header string) map[string]string {
	out := make(map[string]string)
	for {
		chunk, rest, more := strings.Cut(header, ";")
		var key, val string
		if k, v, ok := strings.Cut(chunk, "="); ok {
			key, val = k, v
		} else {
			key, val = "", chunk
		}
		key, val = pyStrip(key), pyStrip(val)
		if key != "" || val != "" {
			out[key] = cookieUnquote(val)
		}
		if !more {
			break
		}
		header = rest
	}
	return out
}

// cookieValue returns what ParseCookie(header)[name] would, without building
// the whole map: the value of the last chunk named name.
func cookieValue(header, name string) (string, bool) {
	var val string
	found := false
	for {
		chunk, rest, more := strings.Cut(header, ";")
		k, v, ok := strings.Cut(chunk, "=")
		if !ok {
			k, v = "", chunk
		}
		k = pyStrip(k)
		if k == name {
			v = pyStrip(v)
			if k != "" || v != "" {
				val, found = cookieUnquote(v), true
			}
		}
		if !more {
			return val, found
		}
		header = rest
	}
}

// isPySpace reports whether the latin-1 character c is whitespace for
// Python's str.strip().
func isPySpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

func pyStrip(s string) string {
	i, j := 0, len(s)
	for i < j && isPySpace(s[i]) {
		i++
	}
	for j > i && isPySpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isOctal(c byte, max byte) bool { return c >= '0' && c <= max }

// cookieUnquote is http.cookies._unquote (CPython 3.11).
func cookieUnquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if len(s)-i >= 4 &&
			isOctal(s[i+1], '3') && isOctal(s[i+2], '7') && isOctal(s[i+3], '7') {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		if i+1 < len(s) && s[i+1] != '\n' {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
