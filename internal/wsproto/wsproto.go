// Package wsproto holds the RFC 6455 constants and the handshake key
// derivation shared by laurel's server-side framer (consumer) and the load
// generator's client (internal/bench).
package wsproto

import (
	"crypto/sha1" //nolint:gosec // RFC 6455 §4.2.2 prescribes SHA-1
	"encoding/base64"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Close codes (RFC 6455 §7.4.1) used by both sides.
const (
	CloseNormal         = 1000
	CloseProtocolError  = 1002
	CloseNoStatus       = 1005
	CloseInvalidPayload = 1007
	CloseMessageTooBig  = 1009
)

// GUID is appended to the client's Sec-WebSocket-Key before hashing
// (RFC 6455 §1.3).
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// keyLen is the length of a valid Sec-WebSocket-Key: 16 bytes in base64.
const keyLen = 24

// Accept returns the Sec-WebSocket-Accept for key: base64(SHA-1(key +
// GUID)). A key of the valid length is hashed without allocating.
func Accept[K ~string | ~[]byte](key K) (acc [28]byte) {
	var sum [sha1.Size]byte
	if len(key) <= keyLen {
		var in [keyLen + len(GUID)]byte
		n := copy(in[:], key)
		n += copy(in[n:], GUID)
		sum = sha1.Sum(in[:n]) //nolint:gosec // RFC 6455 §4.2.2
	} else {
		sum = sha1.Sum(append([]byte(string(key)), GUID...)) //nolint:gosec // RFC 6455 §4.2.2
	}
	base64.StdEncoding.Encode(acc[:], sum[:])
	return acc
}
