package djangoauth

import (
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"
)

// OriginValidator decides whether a WebSocket handshake's Origin is allowed,
// exactly as channels.security.websocket.AllowedHostsOriginValidator
// (channels 3.0.5 to 4.3.2, whose file is unchanged) built from
// ALLOWED_HOSTS and DEBUG, with URL parsing as CPython 3.11's
// urllib.parse.urlparse:
//
//   - The last Origin header wins; no Origin is allowed only when "*" is
//     listed, and "*" allows anything, including "null".
//   - A pattern without a scheme (the usual ALLOWED_HOSTS entry) matches the
//     Origin's hostname with django.utils.http.is_same_domain: exact, or a
//     leading "." matching the domain and its subdomains. The Origin's scheme
//     and port are ignored and its trailing dot is kept.
//   - A pattern with a scheme ("https://example.com") must match scheme,
//     hostname and port (default ports: http/ws 80, https/wss 443).
//   - Python parses "example.com:8000" as the scheme "example.com", so such a
//     pattern never matches; "127.0.0.1:8000" has no scheme and matches by
//     hostname.
//   - With DEBUG and an empty list the list is localhost, 127.0.0.1 and
//     [::1] (no leading dot, unlike Django's own get_host).
//
// Where Channels raises an exception (a malformed IPv6 literal in any
// Origin header, an unparsable port compared against a pattern with a
// scheme), the handshake fails in Channels; Allow returns false.
//
// An OriginValidator is immutable and safe for concurrent use.
type OriginValidator struct {
	patterns []string
}

// NewOriginValidator returns the validator AllowedHostsOriginValidator would
// build from ALLOWED_HOSTS and DEBUG. The list is copied.
func NewOriginValidator(allowedHosts []string, debug bool) *OriginValidator {
	p := append([]string(nil), allowedHosts...)
	if debug && len(p) == 0 {
		p = []string{"localhost", "127.0.0.1", "[::1]"}
	}
	return &OriginValidator{patterns: p}
}

// NewOriginValidatorFromOrigins returns channels' OriginValidator with an
// explicit allowed_origins list (no DEBUG fallback).
func NewOriginValidatorFromOrigins(allowedOrigins []string) *OriginValidator {
	return &OriginValidator{patterns: append([]string(nil), allowedOrigins...)}
}

// Allow reports whether a handshake carrying these Origin header values, in
// the order received (raw bytes, read as latin-1), is allowed.
func (v *OriginValidator) Allow(originHeaders []string) bool {
	var origin *pyURL
	for _, h := range originHeaders {
		u, err := urlParse(latin1String(h))
		if err != nil {
			return false // Channels raises ValueError: the handshake fails
		}
		origin = &u
	}
	hasStar := false
	for _, p := range v.patterns {
		if p == "*" {
			hasStar = true
		}
	}
	if origin == nil && !hasStar {
		return false
	}
	for _, p := range v.patterns {
		if p == "*" {
			return true
		}
		ok, err := matchAllowedOrigin(origin, p)
		if err != nil {
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

func matchAllowedOrigin(origin *pyURL, pattern string) (bool, error) {
	if origin == nil {
		return false, nil
	}
	pp, err := urlParse(strings.ToLower(pattern))
	if err != nil {
		return false, err
	}
	oh, ok := origin.hostname()
	if !ok {
		return false, nil
	}
	if pp.scheme == "" {
		ph := pattern
		if u, err := urlParse("//" + pattern); err != nil {
			return false, err
		} else if h, ok := u.hostname(); ok {
			ph = h
		}
		return isSameDomain(oh, ph), nil
	}
	op, oknown, err := origin.defaultPort()
	if err != nil {
		return false, err
	}
	pport, pknown, err := pp.defaultPort()
	if err != nil {
		return false, err
	}
	if pp.scheme != origin.scheme || oknown != pknown || op != pport {
		return false, nil
	}
	ph, ok := pp.hostname()
	if !ok {
		return false, nil
	}
	return isSameDomain(oh, ph), nil
}

// isSameDomain is django.utils.http.is_same_domain.
func isSameDomain(host, pattern string) bool {
	if pattern == "" {
		return false
	}
	pattern = strings.ToLower(pattern)
	return pattern[0] == '.' && (strings.HasSuffix(host, pattern) || host == pattern[1:]) || pattern == host
}

// pyURL holds the parts of urllib.parse.urlsplit's result that the origin
// check reads.
type pyURL struct {
	scheme string
	netloc string
}

var errPyValue = errors.New("djangoauth: python ValueError")

const schemeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."

var ipvFutureRe = regexp.MustCompile(`^v[a-fA-F0-9]+\..+$`)

// urlParse is the part of CPython 3.11.7 urllib.parse.urlsplit that computes
// scheme and netloc, including the ValueErrors it raises.
func urlParse(url string) (pyURL, error) {
	// lstrip C0 control characters and space
	i := 0
	for i < len(url) && url[i] <= ' ' {
		i++
	}
	url = url[i:]
	if strings.ContainsAny(url, "\t\r\n") {
		url = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(url)
	}
	var u pyURL
	if i := strings.IndexByte(url, ':'); i > 0 && isASCIIAlpha(url[0]) {
		ok := true
		for j := 0; j < i; j++ {
			if strings.IndexByte(schemeChars, url[j]) < 0 {
				ok = false
				break
			}
		}
		if ok {
			u.scheme, url = strings.ToLower(url[:i]), url[i+1:]
		}
	}
	if strings.HasPrefix(url, "//") {
		rest := url[2:]
		end := len(rest)
		if k := strings.IndexAny(rest, "/?#"); k >= 0 {
			end = k
		}
		u.netloc = rest[:end]
		lb, rb := strings.Contains(u.netloc, "["), strings.Contains(u.netloc, "]")
		if lb != rb {
			return u, errPyValue
		}
		if lb && rb {
			_, after, _ := strings.Cut(u.netloc, "[")
			host, _, _ := strings.Cut(after, "]")
			if err := checkBracketedHost(host); err != nil {
				return u, err
			}
		}
	}
	return u, nil
}

func isASCIIAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkBracketedHost is urllib.parse._check_bracketed_host.
func checkBracketedHost(h string) error {
	if strings.HasPrefix(h, "v") {
		if !ipvFutureRe.MatchString(h) {
			return errPyValue
		}
		return nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil || a.Is4() {
		return errPyValue
	}
	return nil
}

func (u pyURL) hostinfo() (host, port string) {
	hostinfo := u.netloc
	if i := strings.LastIndexByte(hostinfo, '@'); i >= 0 {
		hostinfo = hostinfo[i+1:]
	}
	if _, bracketed, ok := strings.Cut(hostinfo, "["); ok {
		host, p, _ := strings.Cut(bracketed, "]")
		_, port, _ = strings.Cut(p, ":")
		return host, port
	}
	host, port, _ = strings.Cut(hostinfo, ":")
	return host, port
}

// hostname is SplitResult.hostname; ok is false where Python returns None.
func (u pyURL) hostname() (string, bool) {
	h, _ := u.hostinfo()
	if h == "" {
		return "", false
	}
	name, zone, hasZone := strings.Cut(h, "%")
	name = strings.ToLower(name)
	if hasZone {
		return name + "%" + zone, true
	}
	return name, true
}

// port is SplitResult.port; known is false where Python returns None.
func (u pyURL) port() (port int, known bool, err error) {
	_, p := u.hostinfo()
	if p == "" {
		return 0, false, nil
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false, errPyValue
		}
		if n <= 65535 {
			n = n*10 + int(p[i]-'0')
		}
	}
	if n > 65535 {
		return 0, false, errPyValue
	}
	return n, true, nil
}

// defaultPort is OriginValidator.get_origin_port.
func (u pyURL) defaultPort() (int, bool, error) {
	p, known, err := u.port()
	if err != nil || known {
		return p, known, err
	}
	switch u.scheme {
	case "http", "ws":
		return 80, true, nil
	case "https", "wss":
		return 443, true, nil
	}
	return 0, false, nil
}

// latin1String converts raw header bytes, read as latin-1, to a Go string.
func latin1String(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return string(latin1ToUTF8([]byte(s)))
		}
	}
	return s
}
