package channelsproto

import (
	"fmt"
	"hash/crc32"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameLength is BaseChannelLayer.MAX_NAME_LENGTH of channels 4.0–4.3.2.
// Names must be strictly shorter, counted in Unicode code points.
const maxNameLength = 100

// ValidateChannelName reports whether name passes channels 4.x
// BaseChannelLayer.require_valid_channel_name(name): fewer than 100 code
// points and a match of the regex ^[a-zA-Z\d\-_.]+(\![\d\w\-_.]*)?$ with
// Python's semantics, so \d is any Unicode decimal digit (category Nd), \w
// also accepts Unicode letters and numbers, and $ also matches before a single
// trailing "\n". Names that are not valid UTF-8 cannot be Python str values
// and are rejected. The error wraps ErrInvalidName.
func ValidateChannelName(name string) error {
	if !validLength(name) || !matchChannel(name) {
		return fmt.Errorf("%w: channel name %q must be a valid unicode string with length < 100 containing only ASCII alphanumerics, hyphens, underscores, or periods", ErrInvalidName, name)
	}
	return nil
}

// ValidateGroupName reports whether name passes channels 4.x
// require_valid_group_name(name): fewer than 100 code points matching
// ^[a-zA-Z\d\-_.]+$ with Python's Unicode \d and trailing-newline $. The
// error wraps ErrInvalidName.
func ValidateGroupName(name string) error {
	if !validLength(name) || !matchGroup(name) {
		return fmt.Errorf("%w: group name %q must be a valid unicode string with length < 100 containing only ASCII alphanumerics, hyphens, underscores, or periods", ErrInvalidName, name)
	}
	return nil
}

func validLength(name string) bool {
	return utf8.ValidString(name) && utf8.RuneCountInString(name) < maxNameLength
}

// stripDollarNewline removes the single trailing "\n" that Python's $
// (without re.MULTILINE) tolerates.
func stripDollarNewline(s string) string {
	return strings.TrimSuffix(s, "\n")
}

// isHeadRune is the class [a-zA-Z\d\-_.] with Python's Unicode \d.
func isHeadRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
	}
	return unicode.Is(unicode.Nd, r)
}

// isLocalRune is the class [\d\w\-_.]: Python's \w is str.isalnum() or "_".
func isLocalRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

func matchGroup(name string) bool {
	s := stripDollarNewline(name)
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isHeadRune(r) {
			return false
		}
	}
	return true
}

func matchChannel(name string) bool {
	s := stripDollarNewline(name)
	head, local, bang := strings.Cut(s, "!")
	if head == "" {
		return false
	}
	for _, r := range head {
		if !isHeadRune(r) {
			return false
		}
	}
	if !bang {
		return true
	}
	for _, r := range local {
		if !isLocalRune(r) {
			return false
		}
	}
	return true
}

// NonLocalName returns BaseChannelLayer.non_local_name(name): the part up to
// and including the first "!" for a process-specific channel, else name.
func NonLocalName(name string) string {
	if i := strings.IndexByte(name, '!'); i >= 0 {
		return name[:i+1]
	}
	return name
}

// ConsistentHash is channels_redis.utils._consistent_hash (identical in
// 4.0.0–4.3.0): 0 for a ring of one, else the low 12 bits of the IEEE CRC-32
// of the UTF-8 name scaled onto ringSize shards, i.e. (crc&0xFFF)*ringSize/4096.
// ringSize must be at least 1.
func ConsistentHash(name string, ringSize int) int {
	if ringSize <= 1 {
		return 0
	}
	big := int(crc32.ChecksumIEEE([]byte(name)) & 0xFFF)
	return big * ringSize / 4096
}
